"""The dispatch queue: jobs wait in order until a worker is idle.

The queue only matches jobs with idle workers; what running a job means is the caller's
business, told through ``run(job, worker_id)``, which returns a Deferred:

* it fires (with anything): the job is finished and the worker is idle again;
* it fails with ``WorkerFailed``: the worker could not do the job (unreachable, timed out);
  the job goes back to the *front* of the queue and the worker leaves the idle set until
  ``worker_idle`` is called for it again (it registers again);
* it fails with anything else: a bug in ``run``; it is logged, the job is dropped from the
  queue (``run`` owns recording it) and the worker is idle again.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Generic, Hashable, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

JobT = TypeVar("JobT")
WorkerT = TypeVar("WorkerT", bound=Hashable)


class WorkerFailed(Exception):
    """The worker could not run the job; the job must be given to another worker."""


class DispatchQueue(Generic[JobT, WorkerT]):
    """A FIFO of jobs handed, one at a time, to idle workers."""

    log = Logger()

    def __init__(self, run: Callable[[JobT, WorkerT], "Deferred[object]"]) -> None:
        self._run = run
        self._jobs: deque[JobT] = deque()
        self._idle: dict[WorkerT, None] = {}  # insertion-ordered set: longest idle first
        self._running: dict[WorkerT, JobT] = {}
        self._leaving: set[WorkerT] = set()  # busy workers that get no job after this one
        self._pumping = False

    @property
    def depth(self) -> int:
        """How many jobs are waiting for a worker."""
        return len(self._jobs)

    @property
    def idle_workers(self) -> list[WorkerT]:
        """Workers waiting for a job, longest idle first."""
        return list(self._idle)

    def running(self) -> dict[WorkerT, JobT]:
        """The job each busy worker is running."""
        return dict(self._running)

    def waiting(self) -> list[JobT]:
        """The queued jobs, next first."""
        return list(self._jobs)

    def submit(self, job: JobT) -> None:
        """Queue ``job`` behind the others; it starts as soon as a worker is idle."""
        self._jobs.append(job)
        self._pump()

    def worker_idle(self, worker: WorkerT) -> None:
        """``worker`` can take a job (it registered). A busy worker stays busy."""
        self._leaving.discard(worker)
        if worker not in self._running:
            self._idle[worker] = None
            self._pump()

    def worker_gone(self, worker: WorkerT) -> None:
        """``worker`` must get no more jobs until ``worker_idle`` is called again."""
        self._idle.pop(worker, None)
        if worker in self._running:
            self._leaving.add(worker)

    def _pump(self) -> None:
        if self._pumping:
            return  # a job finished synchronously inside the loop below; it goes on
        self._pumping = True
        try:
            while self._jobs and self._idle:
                job = self._jobs.popleft()
                worker = next(iter(self._idle))
                del self._idle[worker]
                self._running[worker] = job
                d = maybeDeferred(self._run, job, worker)
                d.addCallbacks(self._finished, self._failed, (worker,), None, (worker, job))
        finally:
            self._pumping = False

    def _finished(self, _: object, worker: WorkerT) -> None:
        del self._running[worker]
        if worker in self._leaving:
            self._leaving.discard(worker)
        else:
            self.worker_idle(worker)

    def _failed(self, failure: Failure, worker: WorkerT, job: JobT) -> None:
        if failure.check(WorkerFailed):
            del self._running[worker]
            self._leaving.discard(worker)
            self._jobs.appendleft(job)
            self._pump()
            return
        self.log.failure("running {job} on {worker} failed", failure, job=job, worker=worker)
        self._finished(None, worker)
