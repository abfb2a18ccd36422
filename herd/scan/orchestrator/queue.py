"""The dispatch queue: jobs wait in order until a worker of the pool has a free slot.

The queue owns the waiting jobs and nothing else: which workers have a free slot is the
pool's knowledge (``herd.scan.orchestrator.pool``), what running a job means is the
orchestrator's. ``take()`` pairs the next job with the worker that has waited longest;
the caller must then occupy that slot (``Pool.occupy``) before it takes again.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Optional, Protocol, TypeVar

from attrs import define

from herd.protocols.scan import CheckRequest

JobT = TypeVar("JobT")
WorkerT = TypeVar("WorkerT")
W_co = TypeVar("W_co", covariant=True)


@define(eq=False)
class Job:
    """A queued or running CHECK job. ``request`` is None for a job deep in a long queue:
    it is read back from the store when the job is dispatched (a million queued jobs then
    hold about 130 bytes each in memory, not 300)."""

    job_id: int
    request: Optional[CheckRequest]
    submitted: float


class Slots(Protocol[W_co]):
    """Where free workers come from (a ``Pool``)."""

    def next_free(self) -> Optional[W_co]:
        """The worker with a free slot that has waited longest, if any."""


class DispatchQueue(Generic[JobT, WorkerT]):
    """A FIFO of jobs handed to the free workers of ``slots``, longest-waiting worker first."""

    def __init__(self, slots: Slots[WorkerT]) -> None:
        self._slots = slots
        self._jobs: deque[JobT] = deque()

    @property
    def depth(self) -> int:
        """How many jobs are waiting for a worker."""
        return len(self._jobs)

    def waiting(self) -> list[JobT]:
        """The queued jobs, next first."""
        return list(self._jobs)

    def submit(self, job: JobT) -> None:
        """Queue ``job`` behind the others."""
        self._jobs.append(job)

    def retry(self, job: JobT) -> None:
        """Queue ``job`` again, in front of the others (its worker failed)."""
        self._jobs.appendleft(job)

    def take(self) -> Optional[tuple[JobT, WorkerT]]:
        """The next job and the worker to run it on, if there are both; the job leaves."""
        if not self._jobs:
            return None
        worker = self._slots.next_free()
        if worker is None:
            return None
        return self._jobs.popleft(), worker
