"""Timeouts: one helper for every wait with a deadline, on an injected clock.

``with_timeout(d, seconds, clock)`` is ``Deferred.addTimeout`` with a message: when the
time is up, ``d`` is cancelled and fails with ``TimeoutError("... after N s")`` (a plain
``TimeoutError``, which Twisted's ``defer.TimeoutError`` also is not; callers catch this
one). Tests pass a ``task.Clock``.
"""

from __future__ import annotations

from typing import TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

T = TypeVar("T")


def with_timeout(d: defer.Deferred[T], seconds: float, clock: IReactorTime,
                 what: str = "an answer") -> defer.Deferred[T]:
    """``d``, cancelled and failed with ``TimeoutError`` if it has no result after ``seconds``."""

    def timed_out(result: object, _timeout: float) -> object:
        if isinstance(result, Failure) and result.check(defer.CancelledError):
            raise TimeoutError(f"no {what} within {seconds:g} s")
        return result

    return d.addTimeout(seconds, clock, onTimeoutCancel=timed_out)
