"""The dispatch queue: jobs wait in order until a worker has a free slot.

The queue only matches jobs with workers; what running a job means is the caller's
business, told through ``run(job, worker)``, which returns a Deferred:

* it fires (with anything): the job is finished and its slot on the worker is free again;
* it fails with ``WorkerFailed``: the worker could not do the job (unreachable, timed out);
  the job goes back to the *front* of the queue and the worker gets no more jobs until
  ``worker_ready`` is called for it again (it registers again, or heartbeats again);
* it fails with anything else: a bug in ``run``; it is logged, the job is dropped from the
  queue (``run`` owns recording it) and the slot is free again.

A worker has a capacity: how many jobs it runs at once (1 unless it says otherwise).
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
    """A FIFO of jobs handed to workers with free slots, longest-waiting worker first."""

    log = Logger()

    def __init__(self, run: Callable[[JobT, WorkerT], "Deferred[object]"]) -> None:
        self._run = run
        self._jobs: deque[JobT] = deque()
        self._capacity: dict[WorkerT, int] = {}  # workers that may get jobs
        self._free: dict[WorkerT, None] = {}  # insertion-ordered: waiting longest first
        self._running: dict[WorkerT, list[JobT]] = {}
        self._pumping = False

    @property
    def depth(self) -> int:
        """How many jobs are waiting for a worker."""
        return len(self._jobs)

    @property
    def idle_workers(self) -> list[WorkerT]:
        """Workers with a free slot, longest waiting first."""
        return list(self._free)

    def running(self) -> dict[WorkerT, list[JobT]]:
        """The jobs each busy worker is running."""
        return {worker: list(jobs) for worker, jobs in self._running.items() if jobs}

    def waiting(self) -> list[JobT]:
        """The queued jobs, next first."""
        return list(self._jobs)

    def submit(self, job: JobT) -> None:
        """Queue ``job`` behind the others; it starts as soon as a slot is free."""
        self._jobs.append(job)
        self._pump()

    def worker_ready(self, worker: WorkerT, capacity: int = 1) -> None:
        """``worker`` may run up to ``capacity`` jobs at once (again)."""
        self._capacity[worker] = max(1, capacity)
        self._update(worker)
        self._pump()

    def worker_idle(self, worker: WorkerT) -> None:
        """``worker_ready`` with a capacity of one job."""
        self.worker_ready(worker, 1)

    def worker_gone(self, worker: WorkerT) -> None:
        """``worker`` gets no more jobs until ``worker_ready`` is called again."""
        self._capacity.pop(worker, None)
        self._free.pop(worker, None)

    def _update(self, worker: WorkerT) -> None:
        busy = len(self._running.get(worker, ()))
        if worker in self._capacity and busy < self._capacity[worker]:
            self._free.setdefault(worker, None)
        else:
            self._free.pop(worker, None)

    def _pump(self) -> None:
        if self._pumping:
            return  # a job finished synchronously inside the loop below; it goes on
        self._pumping = True
        try:
            while self._jobs and self._free:
                worker = next(iter(self._free))
                job = self._jobs.popleft()
                self._running.setdefault(worker, []).append(job)
                self._update(worker)
                d = maybeDeferred(self._run, job, worker)
                d.addCallbacks(self._finished, self._failed, (worker, job), None, (worker, job))
        finally:
            self._pumping = False

    def _release(self, worker: WorkerT, job: JobT) -> None:
        jobs = self._running.get(worker, [])
        if job in jobs:
            jobs.remove(job)
        if not jobs:
            self._running.pop(worker, None)

    def _finished(self, _: object, worker: WorkerT, job: JobT) -> None:
        self._release(worker, job)
        if worker in self._free:  # it had a free slot already: keep its place in line
            self._pump()
            return
        self._update(worker)
        self._pump()

    def _failed(self, failure: Failure, worker: WorkerT, job: JobT) -> None:
        if failure.check(WorkerFailed):
            self._release(worker, job)
            self.worker_gone(worker)
            self._jobs.appendleft(job)
            self._pump()
            return
        self.log.failure("running {job} on {worker} failed", failure, job=job, worker=worker)
        self._finished(None, worker, job)
