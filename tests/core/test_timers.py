"""herd.core.timers.with_timeout: the one timeout helper for Deferreds."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.core.timers import with_timeout


class Boom(Exception):
    pass


class WithTimeoutTests(SynchronousTestCase):
    def test_a_result_in_time_cancels_the_timer(self) -> None:
        clock = Clock()
        d: defer.Deferred[int] = defer.Deferred()
        with_timeout(d, 5, clock)
        clock.advance(4.9)
        d.callback(7)
        self.assertEqual(self.successResultOf(d), 7)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_time_up_says_what_was_awaited(self) -> None:
        clock = Clock()
        cancelled: list[bool] = []
        d: defer.Deferred[int] = defer.Deferred(lambda _: cancelled.append(True))
        with_timeout(d, 2.5, clock, "answer to REGISTER")
        clock.advance(2.5)
        failure = self.failureResultOf(d, TimeoutError)
        self.assertEqual(str(failure.value), "no answer to REGISTER within 2.5 s")
        self.assertEqual(cancelled, [True])

    def test_the_callers_own_error(self) -> None:
        clock = Clock()
        d: defer.Deferred[int] = defer.Deferred()
        with_timeout(d, 10, clock, reason=lambda t: Boom(f"did not answer within {t:g} s"))
        clock.advance(10)
        self.assertEqual(str(self.failureResultOf(d, Boom).value), "did not answer within 10 s")

    def test_other_failures_pass_through(self) -> None:
        clock = Clock()
        d: defer.Deferred[int] = defer.Deferred()
        with_timeout(d, 10, clock)
        d.errback(Boom("no"))
        self.failureResultOf(d, Boom)
