"""The scheduler: queued jobs go by RPC to the least-loaded live worker whose tags match.

Jobs wait in arrival order. A dispatch pass (at most one per reactor turn) walks the queue
and gives each job to ``WorkerRegistry.choose(job.tags)``; a job no live worker can take
waits. A job whose worker fails, dies, times out or is busy goes back to the head of the
queue, unless the store says it is done already (its result arrived first). A job the
workers reject ``max_attempts`` times is marked failed, so its workload still completes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from herd.imaging.controller.registry import LiveWorker, WorkerRegistry
from herd.imaging.controller.store import Store
from herd.imaging.model import ASSIGNED, FAILED, QUEUED, Job
from herd.protocols.imaging import JobFailed


class QueueFull(Exception):
    """No room for another job."""


class Scheduler:
    """Queue jobs and hand them to workers."""

    log = Logger()

    def __init__(self, store: Store, registry: WorkerRegistry, clock: IReactorTime,
                 max_queue: int = 10000, job_timeout: float = 300.0,
                 max_attempts: int = 5) -> None:
        self._store = store
        self._registry = registry
        self._clock = clock
        self.max_queue = max_queue
        self.job_timeout = job_timeout
        self.max_attempts = max_attempts
        self.queue: "OrderedDict[str, Job]" = OrderedDict()
        self._pass: Optional[IDelayedCall] = None
        registry.on_change = self.kick

    def start(self) -> None:
        """Queue what a previous run left unfinished."""
        again = self._store.requeue_running(self._clock.seconds())
        for job in self._store.queued_jobs():
            self.queue[job.id] = job
        if self.queue:
            self.log.info("{count} job(s) queued from the store ({again} were running)",
                          count=len(self.queue), again=again)
        self.kick()

    def stop(self) -> None:
        """Cancel a pending dispatch pass."""
        if self._pass is not None and self._pass.active():
            self._pass.cancel()
        self._pass = None

    def check_room(self, count: int = 1) -> None:
        """QueueFull unless ``count`` more jobs fit."""
        if len(self.queue) + count > self.max_queue:
            raise QueueFull(f"{len(self.queue)} jobs are waiting (limit {self.max_queue})")

    def submit(self, job: Job) -> None:
        """Queue a job the store holds as queued."""
        self.queue[job.id] = job
        self.kick()

    def kick(self) -> None:
        """Dispatch soon (once per reactor turn, however often asked)."""
        if self._pass is None:
            self._pass = self._clock.callLater(0, self._dispatch)

    def _dispatch(self) -> None:
        self._pass = None
        blocked: set[tuple[str, ...]] = set()  # tag sets no free worker carries, this pass
        for job in list(self.queue.values()):
            if job.tags in blocked:
                continue
            if not self._registry.any_free():
                return
            worker = self._registry.choose(job.tags)
            if worker is None:
                blocked.add(job.tags)
            else:
                self._send(job, worker)

    def _send(self, job: Job, worker: LiveWorker) -> None:
        del self.queue[job.id]
        if not self._store.set_job_state(job.id, ASSIGNED, worker.name, self._clock.seconds(),
                                         attempt=True):
            return  # done already
        worker.jobs.add(job.id)
        d = worker.link.run_job(job)
        d.addTimeout(self.job_timeout, self._clock)
        d.addCallbacks(self._finished, self._failed, callbackArgs=(job, worker),
                       errbackArgs=(job, worker))

    def _finished(self, result: str, job: Job, worker: LiveWorker) -> None:
        worker.jobs.discard(job.id)
        state = self._store.job(job.id)
        if state is not None and state[1:] == (ASSIGNED, worker.name):  # no stored result
            self._requeue(job, "the worker answered but no result was stored")
        self.kick()

    def _failed(self, failure: Failure, job: Job, worker: LiveWorker) -> None:
        worker.jobs.discard(job.id)
        reason = failure.getErrorMessage() or failure.type.__name__
        if failure.check(JobFailed) and self._store.attempts(job.id) >= self.max_attempts:
            if self._store.set_job_state(job.id, FAILED, worker.name, self._clock.seconds()):
                self.log.error("job {job} failed {n} times, last on {worker}: {reason}",
                               job=job.id, n=self.max_attempts, worker=worker.name,
                               reason=reason)
        else:
            self._requeue(job, f"{worker.name}: {reason}")
        self.kick()

    def _requeue(self, job: Job, reason: str) -> None:
        if self._store.set_job_state(job.id, QUEUED, None, self._clock.seconds()):
            self.queue[job.id] = job
            self.queue.move_to_end(job.id, last=False)
            self.log.info("job {job} queued again ({reason})", job=job.id, reason=reason)
