"""The primary's replies held until the synced backups acknowledge their log entry.

Each applied request waits, under the counter value it produced, for an ``ack`` from every
backup it was sent to. A backup whose link drops is no longer waited for; one that has not
answered within ``timeout`` seconds is given up on (the owner unsyncs it). When nobody is
left to wait for, ``release(client, num, value)`` sends the reply.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class _Held:
    def __init__(self, client: str, num: int, value: int, backups: set[str]) -> None:
        self.client, self.num, self.value, self.backups = client, num, value, backups
        self.timer: Optional[IDelayedCall] = None


class HeldReplies:
    """Replies waiting for acknowledgements, by counter value."""

    def __init__(self, clock: IReactorTime, timeout: float,
                 release: Callable[[str, int, int], None],
                 give_up: Callable[[str, int], None]) -> None:
        self._clock = clock
        self.timeout = timeout
        self._release = release
        self._give_up = give_up
        self._held: dict[int, _Held] = {}

    def hold(self, client: str, num: int, value: int, backups: set[str]) -> None:
        """Hold the reply to ``client``'s request ``num`` until ``backups`` acknowledge."""
        if not backups:
            self._release(client, num, value)
            return
        held = _Held(client, num, value, set(backups))
        held.timer = self._clock.callLater(self.timeout, self._timed_out, held)
        self._held[value] = held

    def holds(self, client: str, value: int) -> bool:
        """Whether the reply carrying ``value`` to ``client`` is still held."""
        held = self._held.get(value)
        return held is not None and held.client == client

    def acked(self, value: int, backup: str) -> None:
        held = self._held.get(value)
        if held is not None:
            self._done(held, backup)

    def forget(self, backup: str) -> None:
        """``backup`` will not answer (its link dropped): stop waiting for it."""
        for held in list(self._held.values()):
            self._done(held, backup)

    def _done(self, held: _Held, backup: str) -> None:
        held.backups.discard(backup)
        if not held.backups and self._held.pop(held.value, None) is held:
            if held.timer is not None and held.timer.active():
                held.timer.cancel()
            self._release(held.client, held.num, held.value)

    def _timed_out(self, held: _Held) -> None:
        held.timer = None
        for backup in sorted(held.backups):
            self._give_up(backup, held.value)
            self.forget(backup)

    def stop(self) -> None:
        for held in self._held.values():
            if held.timer is not None and held.timer.active():
                held.timer.cancel()

    def clear(self) -> None:
        """Drop every held reply unanswered (a deposed primary)."""
        self.stop()
        self._held.clear()
