"""A heartbeat failure detector: who has been silent for too long.

Peers report in with ``heard(peer)``; a peer not heard from for ``timeout`` seconds is
suspected, and ``on_suspect(peer)`` is called once; hearing from it again calls
``on_recover(peer)``. Time comes from an injected clock, and the check runs every
``interval`` seconds through ``LoopingCall`` on that clock, so tests drive it with
``twisted.internet.task.Clock`` and no real sleeps.
"""

from __future__ import annotations

from typing import Callable, Generic, Hashable, Optional, TypeVar

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

PeerT = TypeVar("PeerT", bound=Hashable)


class FailureDetector(Generic[PeerT]):
    """Suspect peers whose last heartbeat is older than ``timeout`` seconds."""

    def __init__(
        self,
        clock: IReactorTime,
        timeout: float,
        on_suspect: Callable[[PeerT], None],
        on_recover: Callable[[PeerT], None] = lambda peer: None,
        interval: Optional[float] = None,
    ) -> None:
        self._clock = clock
        self.timeout = timeout
        self._on_suspect = on_suspect
        self._on_recover = on_recover
        self._last: dict[PeerT, float] = {}
        self._suspected: set[PeerT] = set()
        self._loop = LoopingCall(self.check)
        self._loop.clock = clock
        self._interval = interval if interval is not None else max(timeout / 4, 0.05)

    def start(self) -> None:
        """Check periodically from now on."""
        if not self._loop.running:
            self._loop.start(self._interval, now=False)

    def stop(self) -> None:
        """Stop checking."""
        if self._loop.running:
            self._loop.stop()

    def heard(self, peer: PeerT) -> None:
        """``peer`` is alive now."""
        self._last[peer] = self._clock.seconds()
        if peer in self._suspected:
            self._suspected.discard(peer)
            self._on_recover(peer)

    def forget(self, peer: PeerT) -> None:
        """Stop watching ``peer``."""
        self._last.pop(peer, None)
        self._suspected.discard(peer)

    def last_heard(self, peer: PeerT) -> Optional[float]:
        """When ``peer`` was last heard from."""
        return self._last.get(peer)

    def suspected(self, peer: PeerT) -> bool:
        """Whether ``peer`` is suspected now."""
        return peer in self._suspected

    def check(self) -> None:
        """Suspect every peer silent for longer than the timeout (each once)."""
        now = self._clock.seconds()
        for peer, last in list(self._last.items()):
            if peer not in self._suspected and now - last > self.timeout:
                self._suspected.add(peer)
                self._on_suspect(peer)
