"""The dispatch queue with the pool's slots: order, one job per free slot, the longest-waiting
worker first, requeue to the front, capacity. (The loop that runs what ``take`` pairs is
the orchestrator's: see test_orchestrator.)"""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.scan.orchestrator.pool import Pool, Worker
from herd.scan.orchestrator.queue import DispatchQueue


class Dispatch:
    """A queue and a pool; each pairing ``take`` makes occupies a slot with a Deferred."""

    def __init__(self) -> None:
        self.pool = Pool(Clock())
        self.queue: DispatchQueue[str, Worker] = DispatchQueue(self.pool)
        self.calls: list[tuple[str, str, Deferred[object]]] = []

    def ready(self, worker_id: str, capacity: int = 1) -> None:
        self.pool.register(worker_id, "127.0.0.1", 54000 + int(worker_id[1:]), capacity)
        self.pump()

    def submit(self, job: str) -> None:
        self.queue.submit(job)
        self.pump()

    def pump(self) -> None:
        while (match := self.queue.take()) is not None:
            job, worker = match
            d: Deferred[object] = Deferred()
            self.pool.occupy(worker.worker_id, d)
            self.calls.append((job, worker.worker_id, d))

    def finish(self, index: int) -> None:
        self.calls[index][2].callback(None)
        self.pump()

    def fail(self, index: int) -> None:
        """The worker did not answer: as the orchestrator does, job to the front, worker out."""
        job, worker_id, d = self.calls[index]
        self.pool.unreachable(worker_id)
        self.queue.retry(job)
        d.callback(None)
        self.pump()

    def started(self) -> list[tuple[str, str]]:
        return [(job, worker) for job, worker, _ in self.calls]

    def running(self) -> dict[str, list[str]]:
        running: dict[str, list[str]] = {}
        for job, worker, d in self.calls:
            if not d.called:
                running.setdefault(worker, []).append(job)
        return running

    def free(self) -> list[str]:
        return [w.worker_id for w in self.pool if w.usable and w.running < w.capacity]


class DispatchQueueTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.d = Dispatch()

    def test_jobs_wait_for_a_worker(self) -> None:
        self.d.submit("j1")
        self.d.submit("j2")
        self.assertEqual(self.d.started(), [])
        self.assertEqual(self.d.queue.depth, 2)
        self.assertIsNone(self.d.queue.take())

    def test_no_worker_no_job_taken(self) -> None:
        self.d.ready("w1")
        self.assertIsNone(self.d.queue.take())
        self.assertEqual(self.d.free(), ["w1"])

    def test_jobs_run_in_order_one_per_idle_worker(self) -> None:
        for job in ("j1", "j2", "j3"):
            self.d.submit(job)
        self.d.ready("w1")
        self.d.ready("w2")
        self.assertEqual(self.d.started(), [("j1", "w1"), ("j2", "w2")])
        self.assertEqual(self.d.queue.waiting(), ["j3"])
        self.assertEqual(self.d.running(), {"w1": ["j1"], "w2": ["j2"]})

    def test_finished_worker_takes_next_job(self) -> None:
        for job in ("j1", "j2"):
            self.d.submit(job)
        self.d.ready("w1")
        self.d.finish(0)
        self.assertEqual(self.d.started(), [("j1", "w1"), ("j2", "w1")])
        self.d.finish(1)
        self.assertEqual(self.d.free(), ["w1"])
        self.assertEqual(self.d.queue.depth, 0)

    def test_the_worker_waiting_longest_gets_the_next_job(self) -> None:
        self.d.ready("w1")
        self.d.ready("w2")
        self.d.submit("j1")
        self.d.submit("j2")
        self.d.finish(0)  # w1 is free again, behind w2 (busy) in the line
        self.d.ready("w3")
        self.d.submit("j3")
        self.d.submit("j4")
        self.assertEqual(self.d.started()[2:], [("j3", "w1"), ("j4", "w3")])

    def test_busy_worker_registering_again_gets_no_second_job(self) -> None:
        self.d.submit("j1")
        self.d.submit("j2")
        self.d.ready("w1")
        self.d.ready("w1")
        self.assertEqual(self.d.started(), [("j1", "w1")])

    def test_failed_worker_job_goes_back_to_the_front(self) -> None:
        for job in ("j1", "j2"):
            self.d.submit(job)
        self.d.ready("w1")
        self.d.fail(0)
        self.assertEqual(self.d.queue.waiting(), ["j1", "j2"])
        self.assertEqual(self.d.free(), [])
        self.d.ready("w2")
        self.assertEqual(self.d.started()[-1], ("j1", "w2"))

    def test_failed_worker_comes_back_when_idle_again(self) -> None:
        self.d.submit("j1")
        self.d.ready("w1")
        self.d.fail(0)
        self.d.ready("w1")
        self.assertEqual(self.d.started(), [("j1", "w1"), ("j1", "w1")])

    def test_unreachable_worker_gets_no_more_jobs(self) -> None:
        self.d.ready("w1")
        self.d.pool.unreachable("w1")
        self.d.submit("j1")
        self.assertEqual(self.d.started(), [])

    def test_worker_gone_while_busy_is_not_given_the_next_job(self) -> None:
        self.d.submit("j1")
        self.d.submit("j2")
        self.d.ready("w1")
        self.d.pool.unreachable("w1")
        self.d.finish(0)
        self.assertEqual(self.d.started(), [("j1", "w1")])
        self.assertEqual(self.d.queue.waiting(), ["j2"])


class CapacityTests(SynchronousTestCase):
    """A worker with a capacity of N runs up to N jobs at once."""

    def setUp(self) -> None:
        self.d = Dispatch()

    def test_jobs_fill_the_slots_of_a_worker(self) -> None:
        for job in ("j1", "j2", "j3", "j4"):
            self.d.submit(job)
        self.d.ready("w1", capacity=3)
        self.assertEqual(self.d.started(), [("j1", "w1"), ("j2", "w1"), ("j3", "w1")])
        self.assertEqual(self.d.running(), {"w1": ["j1", "j2", "j3"]})
        self.assertEqual(self.d.pool.get("w1").running, 3)
        self.d.finish(1)
        self.assertEqual(self.d.started()[-1], ("j4", "w1"))
        self.assertEqual(self.d.queue.depth, 0)

    def test_slots_are_shared_out_between_workers(self) -> None:
        self.d.ready("w1", capacity=2)
        self.d.ready("w2", capacity=2)
        for job in ("j1", "j2", "j3"):
            self.d.submit(job)
        self.assertEqual(sorted(w for _, w in self.d.started()), ["w1", "w1", "w2"])

    def test_failure_frees_no_slot_and_keeps_other_jobs_running(self) -> None:
        for job in ("j1", "j2", "j3"):
            self.d.submit(job)
        self.d.ready("w1", capacity=2)
        self.d.fail(0)
        self.assertEqual(self.d.queue.waiting(), ["j1", "j3"])
        self.assertEqual(self.d.running(), {"w1": ["j2"]})
        self.d.finish(1)
        self.assertEqual(len(self.d.calls), 2)  # w1 is out until it is alive again
        self.d.ready("w1", capacity=2)
        self.assertEqual(self.d.started()[2:], [("j1", "w1"), ("j3", "w1")])
