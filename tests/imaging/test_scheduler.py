"""The registry and the scheduler with fake worker links: load, tags, failures, restarts."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.imaging.controller.registry import WorkerRegistry
from herd.imaging.controller.scheduler import QueueFull, Scheduler
from herd.imaging.controller.store import Store
from herd.imaging.model import ASSIGNED, DONE, FAILED, QUEUED, Job, StoredImage, Workload, new_id
from herd.protocols.imaging import JobFailed


class FakeLink:
    """A worker connection that records the jobs it is sent."""

    def __init__(self) -> None:
        self.jobs: dict[str, Deferred] = {}
        self.dropped = False

    def run_job(self, job: Job) -> Deferred:
        self.jobs[job.id] = Deferred()
        return self.jobs[job.id]

    def drop(self) -> None:
        self.dropped = True
        for d in list(self.jobs.values()):
            if not d.called:
                d.errback(ConnectionLost())


class SchedulerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.store = Store(":memory:")
        self.revoked: list[str] = []
        self.registry = WorkerRegistry(self.store, self.clock, 3.0, lambda name: "token-" + name,
                                       self.revoked.append)
        self.scheduler = Scheduler(self.store, self.registry, self.clock, max_queue=50,
                                   job_timeout=30, max_attempts=2)
        self.registry.start()
        self.scheduler.start()
        self.workload = Workload(new_id(), "w", "blur", (), "alice", "d")
        self.store.add_workload(self.workload, 0)

    def tearDown(self) -> None:
        self.registry.stop()
        self.scheduler.stop()

    def join(self, name: str, tags=(), slots: int = 1, cpu: float = 0.0) -> FakeLink:
        link = FakeLink()
        self.registry.join(name, tags, slots, link, "127.0.0.1:1")
        self.registry.report(name, cpu, 10.0, 0, None)
        return link

    def submit(self, tags=()) -> Job:
        workload = self.workload
        if tags:
            workload = Workload(new_id(), "t", "blur", tuple(tags), "alice", "d")
            self.store.add_workload(workload, 0)
        image = StoredImage(new_id(), workload.id, "original", "/x", "image/png")
        job = Job(new_id(), workload.id, image.id, workload.filter, workload.tags)
        self.store.add_original(image, 1, job.id, 0)
        self.scheduler.submit(job)
        return job

    def finish(self, link: FakeLink, job: Job) -> None:
        result = StoredImage(new_id(), job.workload_id, "filtered", "/y", "image/png")
        self.assertTrue(self.store.complete_job(job.id, result, 1, 1))
        link.jobs[job.id].callback(result.id)

    def test_least_loaded_worker_first(self) -> None:
        busy, idle = self.join("busy", cpu=90), self.join("idle", cpu=5)
        job = self.submit()
        self.clock.advance(0)
        self.assertEqual((list(busy.jobs), list(idle.jobs)), ([], [job.id]))
        self.assertEqual(self.store.job(job.id), (job.workload_id, ASSIGNED, "idle"))
        second = self.submit()
        self.clock.advance(0)
        self.assertEqual(list(busy.jobs), [second.id])  # idle's only slot is taken
        third = self.submit()
        self.clock.advance(0)
        self.assertIn(third.id, self.scheduler.queue)   # waits for a slot
        self.finish(idle, job)
        self.clock.advance(0)
        self.assertIn(third.id, idle.jobs)
        self.assertEqual(self.store.counts(job.workload_id).done, 1)

    def test_tags_must_all_be_carried(self) -> None:
        plain, gpu = self.join("plain", slots=4), self.join("gpu", tags=["gpu", "fast"], slots=4)
        tagged = [self.submit(tags=["gpu"]) for _ in range(3)]
        anywhere = self.submit()
        nowhere = self.submit(tags=["gpu", "tpu"])
        self.clock.advance(0)
        self.assertEqual(set(gpu.jobs), {j.id for j in tagged})
        self.assertEqual(set(plain.jobs), {anywhere.id})
        self.assertEqual(list(self.scheduler.queue), [nowhere.id])

    def test_dead_worker_jobs_run_once_elsewhere(self) -> None:
        first = self.join("first", slots=2)
        jobs = [self.submit(), self.submit()]
        self.clock.advance(0)
        self.finish(first, jobs[0])  # its result is in before it dies
        second = self.join("second", slots=2)
        for _ in range(8):  # "first" goes silent; "second" keeps reporting
            self.clock.advance(0.5)
            self.registry.report("second", 1, 1, 0, None)
        self.assertTrue(first.dropped)
        self.assertNotIn("first", self.registry.live)
        self.assertEqual(list(second.jobs), [jobs[1].id])   # not jobs[0]: done already
        self.assertEqual(self.revoked, ["token-first"])
        self.assertEqual(self.store.attempts(jobs[1].id), 2)

    def test_a_result_that_arrives_after_requeue_wins_once(self) -> None:
        self.join("slow")  # holds the job first, then never answers
        job = self.submit()
        self.clock.advance(0)
        self.clock.advance(31)  # timed out: queued again
        self.assertIn(job.id, self.scheduler.queue)
        fast = self.join("fast")
        self.clock.advance(0)
        self.assertIn(job.id, fast.jobs)
        result = StoredImage(new_id(), job.workload_id, "filtered", "/y", "image/png")
        self.assertTrue(self.store.complete_job(job.id, result, 1, 2))   # the slow one's
        again = StoredImage(new_id(), job.workload_id, "filtered", "/z", "image/png")
        self.assertFalse(self.store.complete_job(job.id, again, 1, 3))   # the fast one's
        fast.jobs[job.id].callback("")
        self.assertEqual(self.store.results_of(job.image_id), 1)
        self.assertEqual(self.store.job(job.id)[1], DONE)

    def test_job_failing_max_attempts_is_given_up(self) -> None:
        link = self.join("w")
        job = self.submit()
        self.clock.advance(0)
        link.jobs.pop(job.id).errback(JobFailed("cannot read"))
        self.clock.advance(0)
        self.assertEqual(self.store.job(job.id)[1], ASSIGNED)
        link.jobs.pop(job.id).errback(JobFailed("cannot read"))
        self.clock.advance(0)
        self.assertEqual(self.store.job(job.id)[1], FAILED)
        self.assertEqual(self.store.counts(job.workload_id).status(), "completed")

    def test_queue_limit(self) -> None:
        for _ in range(50):
            self.submit()
        self.assertRaises(QueueFull, self.scheduler.check_room)

    def test_a_restart_queues_running_jobs_again(self) -> None:
        self.join("w")
        job = self.submit()
        self.clock.advance(0)
        restarted = Scheduler(self.store, WorkerRegistry(self.store, self.clock, 3, str, str), self.clock)
        restarted.start()
        self.assertEqual(list(restarted.queue), [job.id])
        self.assertEqual(self.store.job(job.id)[1], QUEUED)
        restarted.stop()

    def test_duplicate_worker_name_refused(self) -> None:
        self.join("w")
        self.assertRaises(ValueError, self.registry.join, "w", (), 1, FakeLink(), "x")
