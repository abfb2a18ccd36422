"""The dispatch queue: order, one job per idle worker, requeue on worker failure."""

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase

from herd.scan.orchestrator.queue import DispatchQueue, WorkerFailed


class Runner:
    """Records each (job, worker) run and lets the test fire its Deferred."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Deferred[object]]] = []

    def __call__(self, job: str, worker: str) -> Deferred[object]:
        d: Deferred[object] = Deferred()
        self.calls.append((job, worker, d))
        return d

    def started(self) -> list[tuple[str, str]]:
        return [(job, worker) for job, worker, _ in self.calls]


class DispatchQueueTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.run = Runner()
        self.queue: DispatchQueue[str, str] = DispatchQueue(self.run)

    def test_jobs_wait_for_a_worker(self) -> None:
        self.queue.submit("j1")
        self.queue.submit("j2")
        self.assertEqual(self.run.started(), [])
        self.assertEqual(self.queue.depth, 2)

    def test_jobs_run_in_order_one_per_idle_worker(self) -> None:
        for job in ("j1", "j2", "j3"):
            self.queue.submit(job)
        self.queue.worker_idle("w1")
        self.queue.worker_idle("w2")
        self.assertEqual(self.run.started(), [("j1", "w1"), ("j2", "w2")])
        self.assertEqual(self.queue.waiting(), ["j3"])
        self.assertEqual(self.queue.running(), {"w1": ["j1"], "w2": ["j2"]})

    def test_finished_worker_takes_next_job(self) -> None:
        for job in ("j1", "j2"):
            self.queue.submit(job)
        self.queue.worker_idle("w1")
        self.run.calls[0][2].callback(None)
        self.assertEqual(self.run.started(), [("j1", "w1"), ("j2", "w1")])
        self.run.calls[1][2].callback(None)
        self.assertEqual(self.queue.idle_workers, ["w1"])
        self.assertEqual(self.queue.depth, 0)

    def test_busy_worker_registering_again_gets_no_second_job(self) -> None:
        self.queue.submit("j1")
        self.queue.submit("j2")
        self.queue.worker_idle("w1")
        self.queue.worker_idle("w1")
        self.assertEqual(self.run.started(), [("j1", "w1")])

    def test_failed_worker_job_goes_back_to_the_front(self) -> None:
        for job in ("j1", "j2"):
            self.queue.submit(job)
        self.queue.worker_idle("w1")
        self.run.calls[0][2].errback(WorkerFailed("timed out"))
        self.assertEqual(self.queue.waiting(), ["j1", "j2"])
        self.assertEqual(self.queue.idle_workers, [])
        self.queue.worker_idle("w2")
        self.assertEqual(self.run.started()[-1], ("j1", "w2"))

    def test_failed_worker_comes_back_when_idle_again(self) -> None:
        self.queue.submit("j1")
        self.queue.worker_idle("w1")
        self.run.calls[0][2].errback(WorkerFailed("refused"))
        self.queue.worker_idle("w1")
        self.assertEqual(self.run.started(), [("j1", "w1"), ("j1", "w1")])

    def test_gone_worker_gets_no_more_jobs(self) -> None:
        self.queue.worker_idle("w1")
        self.queue.worker_gone("w1")
        self.queue.submit("j1")
        self.assertEqual(self.run.started(), [])

    def test_worker_gone_while_busy_is_not_given_the_next_job(self) -> None:
        self.queue.submit("j1")
        self.queue.submit("j2")
        self.queue.worker_idle("w1")
        self.queue.worker_gone("w1")
        self.run.calls[0][2].callback(None)
        self.assertEqual(self.run.started(), [("j1", "w1")])
        self.assertEqual(self.queue.waiting(), ["j2"])

    def test_a_bug_in_run_is_logged_and_the_worker_stays_usable(self) -> None:
        queue: DispatchQueue[str, str] = DispatchQueue(lambda job, worker: fail(KeyError(job)))
        queue.submit("j1")
        queue.worker_idle("w1")
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertEqual(queue.idle_workers, ["w1"])
        self.assertEqual(queue.depth, 0)

    def test_synchronous_results_drain_the_queue(self) -> None:
        seen: list[str] = []

        def run(job: str, worker: str) -> Deferred[object]:
            seen.append(job)
            d: Deferred[object] = Deferred()
            d.callback(None)
            return d

        queue: DispatchQueue[str, str] = DispatchQueue(run)
        for i in range(500):
            queue.submit(f"j{i}")
        queue.worker_idle("w1")
        self.assertEqual(seen, [f"j{i}" for i in range(500)])


class CapacityTests(SynchronousTestCase):
    """A worker with a capacity of N runs up to N jobs at once."""

    def setUp(self) -> None:
        self.run = Runner()
        self.queue: DispatchQueue[str, str] = DispatchQueue(self.run)

    def test_jobs_fill_the_slots_of_a_worker(self) -> None:
        for job in ("j1", "j2", "j3", "j4"):
            self.queue.submit(job)
        self.queue.worker_ready("w1", capacity=3)
        self.assertEqual(self.run.started(), [("j1", "w1"), ("j2", "w1"), ("j3", "w1")])
        self.assertEqual(self.queue.running(), {"w1": ["j1", "j2", "j3"]})
        self.run.calls[1][2].callback(None)
        self.assertEqual(self.run.started()[-1], ("j4", "w1"))
        self.assertEqual(self.queue.depth, 0)

    def test_slots_are_shared_out_between_workers(self) -> None:
        self.queue.worker_ready("w1", capacity=2)
        self.queue.worker_ready("w2", capacity=2)
        for job in ("j1", "j2", "j3"):
            self.queue.submit(job)
        self.assertEqual(sorted(w for _, w in self.run.started()), ["w1", "w1", "w2"])

    def test_failure_frees_no_slot_and_keeps_other_jobs_running(self) -> None:
        for job in ("j1", "j2", "j3"):
            self.queue.submit(job)
        self.queue.worker_ready("w1", capacity=2)
        self.run.calls[0][2].errback(WorkerFailed("timed out"))
        self.assertEqual(self.queue.waiting(), ["j1", "j3"])
        self.assertEqual(self.queue.running(), {"w1": ["j2"]})
        self.run.calls[1][2].callback(None)
        self.assertEqual(len(self.run.calls), 2)  # w1 is gone until it is ready again
        self.queue.worker_ready("w1", capacity=2)
        self.assertEqual(self.run.started()[2:], [("j1", "w1"), ("j3", "w1")])
