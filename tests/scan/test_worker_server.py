"""The worker's TCP protocol: newline or not, one request, one answer, then close."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from herd.protocols.scan import CheckRequest
from herd.protocols.scan_replies import Found, NotFound
from herd.scan.worker.connection import CheckServer, CheckServerFactory

LINE = b"CHECK http://ns-mn1.cse.nd.edu/cse30264/ads/file1.html IRISH_CSE S1"


class ServerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.requests: list[CheckRequest] = []
        self.pending: Deferred | None = None
        self.answer: object = Found("S1", "2026-11-24-09-05-03")

    def scan(self, request: CheckRequest) -> Deferred:
        self.requests.append(request)
        if self.pending is not None:
            return self.pending
        return succeed(self.answer)

    def connect(self) -> tuple[CheckServer, StringTransport]:
        factory = CheckServerFactory(self.scan, self.clock, quiet=0.25, idle_timeout=30)
        server = factory.buildProtocol(None)
        transport = StringTransport()
        server.makeConnection(transport)
        return server, transport

    def test_line_with_newline_is_answered_at_once(self) -> None:
        server, transport = self.connect()
        server.dataReceived(LINE + b"\r\n")
        self.assertEqual(transport.value(), b"200 YES S1 2026-11-24-09-05-03\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.requests[0].ad_id, "IRISH_CSE")

    def test_part1_client_without_newline_is_answered_after_a_pause(self) -> None:
        server, transport = self.connect()
        server.dataReceived(LINE[:20])
        self.clock.advance(0.2)
        server.dataReceived(LINE[20:])
        self.clock.advance(0.2)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0.05)
        self.assertEqual(transport.value(), b"200 YES S1 2026-11-24-09-05-03\n")
        self.assertEqual(self.requests[0].site_id, "S1")

    def test_half_close_ends_the_request(self) -> None:
        self.answer = NotFound()
        server, transport = self.connect()
        server.dataReceived(LINE)
        server.readConnectionLost()
        self.assertEqual(transport.value(), b"200 NO\n")

    def test_bad_requests_get_400_error(self) -> None:
        for data in (b"CHECK http://h/x IRISH_CSE\n", b"FETCH a b c\n", b"CHECK http://h/x AD ../up\n",
                     b"CHECK http://h/x \xff S1\n", b"\n"):
            server, transport = self.connect()
            server.dataReceived(data)
            self.assertTrue(transport.value().startswith(b"400 ERROR "), (data, transport.value()))
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.requests, [])

    def test_wrong_number_of_arguments_is_named(self) -> None:
        server, transport = self.connect()
        server.dataReceived(b"CHECK http://h/x IRISH_CSE\n")
        self.assertIn(b"wrong number of arguments", transport.value())

    def test_too_long_request_is_refused(self) -> None:
        server, transport = self.connect()
        server.dataReceived(b"CHECK " + b"a" * 1500)
        self.assertTrue(transport.value().startswith(b"400 ERROR message too long"))

    def test_silent_client_is_dropped(self) -> None:
        server, transport = self.connect()
        self.clock.advance(30)
        self.assertTrue(transport.value().startswith(b"400 ERROR no request"))
        self.assertTrue(transport.disconnecting)

    def test_one_request_per_connection(self) -> None:
        self.pending = Deferred()
        server, transport = self.connect()
        server.dataReceived(LINE + b"\n" + LINE + b"\n")
        server.dataReceived(LINE + b"\n")
        self.pending.callback(NotFound())
        self.assertEqual(transport.value(), b"200 NO\n")
        self.assertEqual(len(self.requests), 1)

    def test_client_leaving_cancels_the_job(self) -> None:
        cancelled = []
        self.pending = Deferred(cancelled.append)
        server, transport = self.connect()
        server.dataReceived(LINE + b"\n")
        transport.loseConnection()
        server.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class TokenServerTests(SynchronousTestCase):
    """With a shared secret, only CHECKs signed by the orchestrator are run."""

    def setUp(self) -> None:
        from herd.core.tokens import Tokens

        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.scanned: list[CheckRequest] = []
        self.tokens = Tokens(b"secret", self.clock)
        self.factory = CheckServerFactory(
            lambda r: (self.scanned.append(r), succeed(NotFound()))[1], self.clock, tokens=Tokens(b"secret", self.clock)
        )

    def send(self, line: bytes) -> bytes:
        server = self.factory.buildProtocol(None)
        transport = StringTransport()
        server.makeConnection(transport)
        server.dataReceived(line + b"\n")
        return transport.value()

    def test_signed_check_runs_and_counts(self) -> None:
        from herd.protocols.scan import parse_check

        request = parse_check(LINE)
        signed = LINE + b" token=" + self.tokens.make(request.signed()).encode()
        self.assertEqual(self.send(signed), b"200 NO\n")
        self.assertEqual(len(self.scanned), 1)
        self.assertEqual(self.factory.jobs.running, 0)

    def test_unsigned_or_forged_checks_are_refused(self) -> None:
        self.assertEqual(self.send(LINE), b"403 ERROR token missing\n")
        self.assertEqual(self.send(LINE + b" token=123:abc"), b"403 ERROR token expired or from the future (check the clocks)\n")
        self.assertEqual(self.send(LINE + b" token=1000000.0:abc"), b"403 ERROR bad token\n")
        self.assertEqual(self.scanned, [])
