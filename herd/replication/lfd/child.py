"""The LFD's replica as a child process: spawned, watched, killed and spawned again.

``reactor.spawnProcess`` with a ``ProcessProtocol``: ``processEnded`` says when the child is
gone, whoever killed it. The child's process id goes to its pid file at every launch.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

TWISTD = [sys.executable, "-c", "import sys; from twisted.scripts.twistd import run; sys.exit(run())"]


class _Watch(ProcessProtocol):
    def __init__(self, child: "Child") -> None:
        self.child = child

    def processEnded(self, reason: Failure) -> None:
        self.child._ended(self, reason)


class Child:
    """One child process at a time, started from ``argv``."""

    def __init__(self, reactor: object, argv: Sequence[str], pidfile: Optional[Path],
                 on_exit: Callable[[str], None] = lambda why: None) -> None:
        self._reactor = reactor
        self.argv = list(argv)
        self.pidfile = pidfile
        self._on_exit = on_exit
        self._watch: Optional[_Watch] = None
        self._transport = None
        self._ended_waiters: list[Deferred[None]] = []
        self._then_start = False

    @property
    def running(self) -> bool:
        return self._transport is not None

    @property
    def pid(self) -> Optional[int]:
        return self._transport.pid if self._transport is not None else None

    def start(self) -> None:
        """Start the child; if one is still running, kill it first and start when it is gone."""
        if self.running:
            self._then_start = True
            self.kill(signal.SIGKILL)
            return
        self._watch = _Watch(self)
        self._transport = self._reactor.spawnProcess(  # type: ignore[attr-defined]
            self._watch, self.argv[0], self.argv, env=dict(os.environ),
            childFDs={0: "w", 1: 1, 2: 2})
        if self.pidfile is not None:
            self.pidfile.parent.mkdir(parents=True, exist_ok=True)
            self.pidfile.write_text(f"{self._transport.pid}\n")

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self._transport is not None:
            try:
                self._transport.signalProcess(sig)
            except ProcessExitedAlready:
                pass

    def stop(self, grace: float = 5.0) -> Deferred[None]:
        """SIGTERM, then SIGKILL after ``grace`` seconds; fires once the child is gone."""
        self._then_start = False
        if not self.running:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._ended_waiters.append(d)
        self.kill(signal.SIGTERM)
        timer = self._reactor.callLater(grace, self.kill, signal.SIGKILL)  # type: ignore[attr-defined]
        d.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
        return d

    def _ended(self, watch: _Watch, reason: Failure) -> None:
        if watch is not self._watch:
            return
        self._transport = None
        self._watch = None
        self._on_exit(reason.getErrorMessage())
        waiters, self._ended_waiters = self._ended_waiters, []
        for d in waiters:
            d.callback(None)
        if self._then_start:
            self._then_start = False
            self.start()
