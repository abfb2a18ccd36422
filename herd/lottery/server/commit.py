"""Group commit: the frames of every agency read in one reactor turn share one fsync.

At most one write is in flight. Whatever is submitted is written (one append, one fsync
per file) at the end of the reactor turn in which it came, or, if a write is in flight,
once that write is done, together with everything else submitted meanwhile; each
submitter's Deferred fires once its own data is on disk. No agency waits for another's
batch beyond the write itself, and under load one fsync acknowledges many frames.

By default the server writes on the reactor thread (``run`` = ``maybeDeferred``): frames
that arrive during an fsync wait in the kernel's socket buffers, and the next turn reads
them all into the next group; on this project's shared two cores that beat a writer
thread, whose hand-offs cost more than the parsing it overlaps (``--write-thread``).

``linger`` holds the next group back for the senders of the last one (the server uses
2 ms). Agencies send a frame, wait for its ACKNOWLEDGE and send the next, so the K senders
of a group come back together, but a fraction of a millisecond apart: writing as soon as
the first of them is back splits them into groups of 1 and K-1, turn after turn (measured
with 5 agencies: 2.5 frames per fsync, against 5 with the linger, and twice the bets per
second). With ``linger`` the next group starts when K submissions wait, or ``linger``
seconds after the first of them, whichever comes first; a lone agency never waits.

With ``timer`` (the server passes ``time.perf_counter``) each write is timed and the wait
is also capped at the recent write time (a moving average): waiting for a straggler
longer than a write takes costs the others more than writing without it, and on a fast
disk (0.1 ms fsyncs) a fixed 2 ms wait would cap the bets per second at about (frames in
flight) / (2 ms + fsync).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

Write = Callable[[bytes, list[tuple[int, int]]], None]
"""Append bets' lines and agencies' ends durably (``BetStore.append``); blocking."""
Run = Callable[..., Deferred]
"""Run a blocking call off the reactor thread (``deferToThreadPool`` in production)."""


class GroupCommit:
    """Queue bets and ends; write them in groups, one group at a time."""

    def __init__(self, write: Write, run: Run, clock: IReactorTime, linger: float = 0.0,
                 timer: Optional[Callable[[], float]] = None) -> None:
        self._write = write if timer is None else self._timed
        self._store_write = write
        self._timer_fn = timer
        self.write_time = linger
        """Moving average of a write's seconds (with ``timer``)."""
        self._run = run
        self._clock = clock
        self._linger = linger
        self._expect = 0
        self._timer: Optional[IDelayedCall] = None
        self._timer_delay = 0.0
        self._bets: list[bytes] = []
        self._ends: list[tuple[int, int]] = []
        self._waiting: list[tuple[Deferred[Any], Any]] = []
        self._busy = False
        self._idle: list[Deferred[None]] = []
        self.groups = 0
        """Groups written so far (one fsync of ``bets.csv`` each, at most)."""

    def submit(self, bets: bytes = b"", end: tuple[int, int] | None = None,
               value: Any = None) -> Deferred[Any]:
        """Durably append ``bets`` (lines) and then ``end``; fires with ``value`` once both
        are on disk."""
        if bets:
            self._bets.append(bets)
        if end is not None:
            self._ends.append(end)
        done: Deferred[Any] = Deferred()
        self._waiting.append((done, value))
        if not self._busy:
            self._schedule()
        return done

    def idle(self) -> Deferred[None]:
        """Fires once nothing is queued or being written."""
        if not self._busy and not self._waiting:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._idle.append(waiter)
        return waiter

    def _schedule(self) -> None:
        """Nothing is being written: write at the end of this reactor turn (so that every
        frame read in this turn shares the fsync), or once the expected senders are back."""
        if not self._waiting:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)
            return
        delay = 0.0 if len(self._waiting) >= self._expect else self._linger
        if delay and self._timer_fn is not None:
            delay = min(delay, self.write_time)
        if self._timer is not None and self._timer.active():
            if delay or not self._timer_delay:
                return
            self._timer.cancel()
        self._timer = self._clock.callLater(delay, self._next)
        self._timer_delay = delay

    def _next(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        self._busy = True
        bets, self._bets = b"".join(self._bets), []
        ends, self._ends = self._ends, []
        waiting, self._waiting = self._waiting, []
        self.groups += 1
        written = self._run(self._write, bets, ends)
        written.addBoth(self._written, waiting)

    def _timed(self, bets: bytes, ends: list[tuple[int, int]]) -> None:
        assert self._timer_fn is not None
        started = self._timer_fn()
        self._store_write(bets, ends)
        self.write_time += (self._timer_fn() - started - self.write_time) / 4

    def _written(self, result: object, waiting: list[tuple[Deferred[Any], Any]]) -> None:
        self._busy = False
        self._expect = len(waiting)
        failed = isinstance(result, Failure)
        for done, value in waiting:
            if failed:
                done.errback(result)
            else:
                done.callback(value)
        if not self._busy:
            self._schedule()
