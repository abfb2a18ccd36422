"""The pool: the one owner of everything the orchestrator knows of its workers.

Membership (who registered, at which address), capacity (how many jobs a worker runs at
once), what runs on each worker now (the Deferreds of its jobs) and liveness (heartbeats,
through ``herd.core.failure.FailureDetector``) live here and nowhere else. A worker is one
immutable ``Worker`` record, replaced on every change, so a reader (the snapshot, the
store, STATUS) always sees a consistent picture of it.

A worker's state is ``idle`` or ``busy`` while it may get jobs, ``unreachable`` after it
failed to answer a job, ``dead`` after it missed its heartbeats; it may get jobs again once
it registers or beats again. Among the workers with a free slot, the one waiting longest
comes first (``next_free``).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

from attrs import evolve, frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from herd.core.failure import FailureDetector
from herd.protocols.scan_replies import WorkerStatus
from herd.core.loglevel import LevelLogger

IDLE, BUSY, UNREACHABLE, DEAD = "idle", "busy", "unreachable", "dead"
STATES = (IDLE, BUSY, UNREACHABLE, DEAD)


@frozen
class Worker:
    """One worker of the pool, as it is now (a new record replaces it on every change).

    ``registered``, ``last_sent``, ``last_result`` and ``jobs_done`` are stored; ``state``,
    ``running`` and ``last_heartbeat`` are learnt again after a restart.
    """

    worker_id: str
    host: str
    port: int
    capacity: int = 1
    registered: float = 0.0
    last_sent: Optional[float] = None
    last_result: Optional[float] = None
    jobs_done: int = 0
    state: str = UNREACHABLE
    running: int = 0
    last_heartbeat: Optional[float] = None

    @property
    def usable(self) -> bool:
        """Whether it may be given jobs (it is neither unreachable nor dead)."""
        return self.state in (IDLE, BUSY)

    def status(self) -> WorkerStatus:
        """The worker as a STATUS reply lists it (the wire view)."""
        return WorkerStatus(self.worker_id, self.host, self.port, self.last_sent, self.last_result,
                            self.state, self.jobs_done, self.running, self.capacity)


class Pool:
    """The workers, their free slots and their heartbeats."""

    log = LevelLogger()

    def __init__(self, clock: IReactorTime, heartbeat_timeout: float = 10.0) -> None:
        self._clock = clock
        self._workers: dict[str, Worker] = {}
        self._jobs: dict[str, set[Deferred[object]]] = {}  # what runs on each worker
        self._free: dict[str, None] = {}  # insertion-ordered: waiting longest first
        self._detector: FailureDetector[str] = FailureDetector(clock, heartbeat_timeout, self._silent)

    def start(self) -> None:
        """Watch the heartbeats from now on."""
        self._detector.start()

    def stop(self) -> None:
        """Stop watching the heartbeats."""
        self._detector.stop()

    # -- membership ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[Worker]:
        """The workers in identifier order."""
        return iter(sorted(self._workers.values(), key=lambda w: w.worker_id))

    def __len__(self) -> int:
        return len(self._workers)

    def get(self, worker_id: str) -> Optional[Worker]:
        """The worker with this identifier, as it is now."""
        return self._workers.get(worker_id)

    @property
    def running(self) -> int:
        """Jobs running on workers now."""
        return sum(len(jobs) for jobs in self._jobs.values())

    def restore(self, workers: Iterable[Worker]) -> None:
        """Take back stored workers; they get jobs once they beat or register again."""
        for worker in workers:
            self._workers[worker.worker_id] = evolve(worker, state=UNREACHABLE, running=0,
                                                     last_heartbeat=None)

    def register(self, worker_id: str, host: str, port: int, capacity: int) -> tuple[Worker, list[str]]:
        """Add a worker, or refresh the one with this identifier; it is alive.

        Another identifier at the same address is replaced: the identifiers removed are
        returned with the worker.
        """
        replaced = [w.worker_id for w in self._workers.values()
                    if (w.host, w.port) == (host, port) and w.worker_id != worker_id]
        for old in replaced:
            self.log.info("worker {new} replaces {old} at {host}:{port}", new=worker_id,
                          old=old, host=host, port=port)
            del self._workers[old]
            self._free.pop(old, None)
            self._detector.forget(old)
        now = self._clock.seconds()
        known = self._workers.get(worker_id)
        if known is None:
            self._workers[worker_id] = Worker(worker_id, host, port, capacity, now)
            self.log.info("worker {worker_id} registered at {host}:{port} for {capacity} job(s) at once",
                          worker_id=worker_id, host=host, port=port, capacity=capacity)
        else:
            self._workers[worker_id] = evolve(known, host=host, port=port, capacity=capacity,
                                              registered=now)
        return self._alive(worker_id), replaced

    def heartbeat(self, worker_id: str) -> Optional[Worker]:
        """The worker is alive; None if the pool does not know it."""
        return self._alive(worker_id) if worker_id in self._workers else None

    def _alive(self, worker_id: str) -> Worker:
        self._detector.heard(worker_id)
        worker = self._workers[worker_id]
        if not worker.usable:
            self.log.info("worker {worker_id} is back", worker_id=worker_id)
        return self._update(worker_id, state=BUSY if worker.running else IDLE,
                            last_heartbeat=self._detector.last_heard(worker_id))

    # -- slots --------------------------------------------------------------------------

    def next_free(self) -> Optional[Worker]:
        """The worker with a free slot that has waited longest, if any."""
        return self._workers[next(iter(self._free))] if self._free else None

    def occupy(self, worker_id: str, job: "Deferred[object]") -> None:
        """``job`` runs on the worker until it fires (or is cancelled, if the worker dies)."""
        self._jobs.setdefault(worker_id, set()).add(job)
        if worker_id in self._workers:
            self._update(worker_id, state=BUSY, last_sent=self._clock.seconds())
        job.addBoth(self._landed, worker_id, job)

    def _landed(self, outcome: object, worker_id: str, job: "Deferred[object]") -> object:
        jobs = self._jobs.get(worker_id, set())
        jobs.discard(job)
        if not jobs:
            self._jobs.pop(worker_id, None)
        worker = self._workers.get(worker_id)
        if worker is not None:
            self._update(worker_id, state=IDLE if worker.state == BUSY and not jobs else worker.state)
        return outcome

    # -- outcomes -----------------------------------------------------------------------

    def answered(self, worker_id: str, recorded: bool) -> Optional[Worker]:
        """The worker answered a job (``recorded``: its first answer to that job)."""
        if worker_id not in self._workers:
            return None
        worker = self._workers[worker_id]
        return self._update(worker_id, last_result=self._clock.seconds(),
                            jobs_done=worker.jobs_done + recorded)

    def unreachable(self, worker_id: str) -> None:
        """The worker did not answer a job: no more jobs until it is alive again."""
        worker = self._workers.get(worker_id)
        if worker is not None and worker.state != DEAD:
            self._update(worker_id, state=UNREACHABLE)

    def _silent(self, worker_id: str) -> None:
        """The failure detector gave up on a worker: no more jobs; its jobs are cancelled."""
        if worker_id not in self._workers:
            return
        self._update(worker_id, state=DEAD)
        jobs = list(self._jobs.get(worker_id, ()))
        self.log.warn("worker {worker_id} missed its heartbeats: dead; {count} job(s) requeued",
                      worker_id=worker_id, count=len(jobs))
        for job in jobs:
            job.cancel()

    def _update(self, worker_id: str, **changes: object) -> Worker:
        """Replace the worker's record, keeping its running count and free slot in step."""
        worker = evolve(self._workers[worker_id], running=len(self._jobs.get(worker_id, ())),
                        **changes)  # type: ignore[arg-type]
        self._workers[worker_id] = worker
        if worker.usable and worker.running < worker.capacity:
            self._free.setdefault(worker_id, None)
        else:
            self._free.pop(worker_id, None)
        return worker
