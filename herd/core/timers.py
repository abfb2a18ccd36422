"""Timeouts: one helper for every wait with a deadline, on an injected clock.

``with_timeout(d, seconds, clock, what)`` is ``Deferred.addTimeout`` with a clear error:
when the time is up, ``d`` is cancelled and fails with ``TimeoutError("no <what> within N
s")`` (or with ``reason(seconds)``, an exception of the caller's), whatever the cancelled operation was doing at
the time (a cancelled treq request fails with ``ResponseNeverReceived``, ``CancelledError``
...: the timeout is the real reason). Tests pass a ``task.Clock``.
"""

from __future__ import annotations

from typing import Callable, Optional, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

T = TypeVar("T")


def with_timeout(d: defer.Deferred[T], seconds: float, clock: IReactorTime, what: str = "answer",
                 reason: Optional[Callable[[float], Exception]] = None) -> defer.Deferred[T]:
    """``d``, cancelled and failed if it has no result after ``seconds``.

    The failure is ``reason(seconds)`` when given, else ``TimeoutError("no <what> within N s")``.
    """

    def timed_out(result: object, timeout: float) -> Failure:
        error = reason(timeout) if reason is not None else TimeoutError(f"no {what} within {timeout:g} s")
        return Failure(error)

    return d.addTimeout(seconds, clock, onTimeoutCancel=timed_out)
