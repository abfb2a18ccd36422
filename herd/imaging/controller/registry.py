"""The workers the controller knows: who is live, what it reported, which jobs it holds.

A worker is live from its ``Subscribe`` until its connection drops or the failure detector
(``herd.core.failure``) suspects it, whichever comes first; a suspected worker's
connection is cut, so every job it held fails over to the scheduler once. Its load is the
figure the scheduler sorts by (see ``LiveWorker.load``).
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Protocol

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from herd.core.failure import FailureDetector
from herd.imaging.controller.store import Store
from herd.imaging.model import Job


class Link(Protocol):
    """What the registry needs from a worker's connection."""

    def run_job(self, job: Job) -> "Deferred[str]":
        """Send ``job``; fires with the filtered image id."""

    def drop(self) -> None:
        """Cut the connection."""


@define(eq=False)
class LiveWorker:
    """A subscribed worker and its last report."""

    name: str
    tags: frozenset[str]
    slots: int
    link: Link
    token: str
    cpu: float = 0.0
    memory: float = 0.0
    gpu: Optional[float] = None
    reported_jobs: int = 0
    jobs: set[str] = field(factory=set)

    def free(self) -> int:
        """Jobs it can take now (what we sent it counts, not what it last reported)."""
        return self.slots - len(self.jobs)

    def matches(self, tags: Iterable[str]) -> bool:
        """Whether it carries every tag in ``tags`` (no tags: every worker matches)."""
        return self.tags.issuperset(tags)

    def load(self) -> float:
        """0 (idle) to 1 (saturated): busy slots 50 %, CPU 30 %, memory 20 %; with a GPU
        reported, busy slots 40 %, CPU 25 %, memory 15 %, GPU 20 %."""
        busy = len(self.jobs) / self.slots
        cpu, memory = self.cpu / 100, self.memory / 100
        if self.gpu is None:
            return 0.5 * busy + 0.3 * cpu + 0.2 * memory
        return 0.4 * busy + 0.25 * cpu + 0.15 * memory + 0.2 * self.gpu / 100


class WorkerRegistry:
    """Live workers, watched by a FailureDetector."""

    log = Logger()

    def __init__(self, store: Store, clock: IReactorTime, timeout: float,
                 issue_token: Callable[[str], str], revoke_token: Callable[[str], None],
                 on_change: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._clock = clock
        self._issue = issue_token
        self._revoke = revoke_token
        self.on_change = on_change
        self.live: dict[str, LiveWorker] = {}
        self.detector: FailureDetector[str] = FailureDetector(clock, timeout, self._suspect)

    def start(self) -> None:
        """Start watching heartbeats."""
        self.detector.start()

    def stop(self) -> None:
        """Stop watching heartbeats."""
        self.detector.stop()

    def join(self, name: str, tags: Iterable[str], slots: int, link: Link, address: str) -> str:
        """Register a worker and return its API token; ValueError if a live worker has
        that name already."""
        if name in self.live:
            raise ValueError(f"a worker named {name!r} is already connected")
        worker = LiveWorker(name, frozenset(tags), max(1, slots), link, self._issue(name))
        self.live[name] = worker
        self.detector.heard(name)
        self._store.worker_seen(name, sorted(worker.tags), worker.slots, address, "live",
                                self._clock.seconds())
        self.log.info("worker {name} joined from {address} (tags {tags}, {slots} slots)",
                      name=name, address=address, tags=",".join(sorted(worker.tags)) or "-",
                      slots=worker.slots)
        self.on_change()
        return worker.token

    def report(self, name: str, cpu: float, memory: float, running_jobs: int,
               gpu: Optional[float]) -> None:
        """A load report: also the worker's heartbeat (KeyError if it is not live)."""
        worker = self.live[name]
        worker.cpu, worker.memory, worker.gpu = cpu, memory, gpu
        worker.reported_jobs = running_jobs
        self.detector.heard(name)
        self._store.add_activity(name, self._clock.seconds(), cpu, memory, running_jobs, gpu)

    def leave(self, name: str, link: Link, state: str = "left") -> None:
        """Forget a worker whose connection is gone (only if ``link`` is its own)."""
        worker = self.live.get(name)
        if worker is None or worker.link is not link:
            return
        del self.live[name]
        self.detector.forget(name)
        self._revoke(worker.token)
        self._store.worker_left(name, state, self._clock.seconds())
        self.log.info("worker {name} {state} with {jobs} job(s) in hand", name=name,
                      state=state, jobs=len(worker.jobs))

    def _suspect(self, name: str) -> None:
        worker = self.live.get(name)
        if worker is None:
            return
        self.log.warn("worker {name} silent for {timeout:g} s: declared dead", name=name,
                      timeout=self.detector.timeout)
        self.leave(name, worker.link, "dead")
        worker.link.drop()

    def choose(self, tags: Iterable[str]) -> Optional[LiveWorker]:
        """The least-loaded live worker with a free slot carrying ``tags``, or None."""
        tags = frozenset(tags)
        best: Optional[LiveWorker] = None
        for worker in self.live.values():
            if worker.free() > 0 and worker.matches(tags):
                if best is None or (worker.load(), worker.name) < (best.load(), best.name):
                    best = worker
        return best

    def any_free(self) -> bool:
        """Whether some live worker has a free slot."""
        return any(worker.free() > 0 for worker in self.live.values())
