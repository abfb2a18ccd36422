"""The worker's job runner against the real API in memory (StubTreq): each way a job ends."""

from __future__ import annotations

import io

from PIL import Image
from treq.testing import StubTreq
from twisted.internet.defer import Deferred

from herd.imaging.model import Job, new_id
from herd.imaging.worker.jobs import JobRunner
from herd.protocols.imaging import JobFailed, WorkerBusy
from herd.testing.imaging import ApiCase, frame, in_thread_now


class JobRunnerTests(ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = self.login()
        self.workload = self.workload(self.user, filter="blur")["workload_id"]
        self.http_worker = StubTreq(self.api.resource())
        self.runner = JobRunner(self.http_worker, in_thread_now, slots=1, timeout=None)
        self.runner.use_store("http://api/", self.accounts.issue_worker_token("w1"))

    def run_job(self, job_id: str, image_id: str):
        d = Deferred.fromCoroutine(self.runner.run(job_id, self.workload, image_id, "blur"))
        self.http_worker.flush()
        return d

    def queued(self, data: bytes) -> Job:
        image_id = self.upload(self.user, self.workload, data)[1]["image_id"]
        return next(job for job in self.scheduler.queue.values() if job.image_id == image_id)

    def test_a_job_is_filtered_and_stored_once(self) -> None:
        job = self.queued(frame(1, (40, 30)))
        result = self.successResultOf(self.run_job(job.id, job.image_id))
        data = self.call("GET", f"/images/{result}", self.user)[1]
        self.assertEqual(Image.open(io.BytesIO(data)).size, (40, 30))
        self.assertEqual(self.store.results_of(job.image_id), 1)
        again = self.successResultOf(self.run_job(job.id, job.image_id))  # a second worker's try
        self.assertEqual(again, "")
        self.assertEqual(self.store.results_of(job.image_id), 1)
        self.assertEqual(self.runner.running, 0)

    def test_an_unknown_image_or_job_fails_the_job(self) -> None:
        failure = self.failureResultOf(self.run_job(new_id(), new_id()), JobFailed)
        self.assertIn("404", failure.getErrorMessage())
        job = self.queued(frame(2))
        failure = self.failureResultOf(self.run_job(new_id(), job.image_id), JobFailed)
        self.assertIn("upload", failure.getErrorMessage())

    def test_a_revoked_token_fails_the_job(self) -> None:
        job = self.queued(frame(3))
        self.accounts.revoke(self.runner.token)
        self.assertIn("401", self.failureResultOf(self.run_job(job.id, job.image_id),
                                                  JobFailed).getErrorMessage())

    def test_over_capacity_is_busy(self) -> None:
        self.runner.running = self.runner.capacity
        self.failureResultOf(self.run_job(new_id(), new_id()), WorkerBusy)
