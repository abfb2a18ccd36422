"""The orchestrator's TCP client of a worker: one CHECK line out, one result line back."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.internet.error import ConnectionDone
from twisted.trial.unittest import SynchronousTestCase

from herd.core.tokens import Tokens
from herd.protocols.scan import CheckRequest, parse_check
from herd.protocols.scan_replies import Failed, Found, NotFound
from herd.scan.orchestrator.worker_connection import (
    CheckClient,
    WorkerProtocolError,
    check_on_worker,
    send_check,
)

REQUEST = CheckRequest("http://h/file1.html", "IRISH_CSE", "S1")


class StringEndpoint:
    """An endpoint whose connections are StringTransports kept for inspection."""

    def __init__(self, connect: bool = True) -> None:
        self.connect_now = connect
        self.transport = StringTransport()
        self.protocol = None
        self.pending: Deferred = Deferred()

    def connect(self, factory):
        if not self.connect_now:
            return self.pending
        self.protocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        return succeed(self.protocol)


class CheckClientTests(SynchronousTestCase):
    def connected(self) -> tuple[CheckClient, StringTransport]:
        client = CheckClient(REQUEST)
        transport = StringTransport()
        client.makeConnection(transport)
        return client, transport

    def test_sends_one_line(self) -> None:
        _, transport = self.connected()
        self.assertEqual(transport.value(), b"CHECK http://h/file1.html IRISH_CSE S1\n")

    def test_parses_each_answer(self) -> None:
        for line, expected in (
            (b"200 YES S1 2026-11-24-09-05-03\n", Found("S1", "2026-11-24-09-05-03")),
            (b"200 NO\r\n", NotFound()),
            (b"400 ERROR page http://h/file1.html answered HTTP 404\n", Failed("page http://h/file1.html answered HTTP 404")),
        ):
            client, transport = self.connected()
            client.dataReceived(line[:5])
            client.dataReceived(line[5:])
            self.assertEqual(self.successResultOf(client.result), expected)
            self.assertTrue(transport.disconnecting)

    def test_answer_without_newline_then_close(self) -> None:
        client, _ = self.connected()
        client.dataReceived(b"200 NO")
        client.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.successResultOf(client.result), NotFound())

    def test_close_without_answer_fails(self) -> None:
        client, _ = self.connected()
        client.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(client.result, WorkerProtocolError)

    def test_nonsense_answer_fails(self) -> None:
        client, _ = self.connected()
        client.dataReceived(b"HTTP/1.1 400 Bad Request\r\n")
        self.failureResultOf(client.result, WorkerProtocolError)

    def test_endless_answer_is_cut_off(self) -> None:
        client, transport = self.connected()
        client.dataReceived(b"x" * 2000)
        self.failureResultOf(client.result, WorkerProtocolError)
        self.assertTrue(transport.disconnected)


class SendCheckTests(SynchronousTestCase):
    def test_result(self) -> None:
        endpoint = StringEndpoint()
        d = send_check(endpoint, REQUEST, 60, Clock())
        endpoint.protocol.dataReceived(b"200 NO\n")
        self.assertEqual(self.successResultOf(d), NotFound())

    def test_silent_worker_times_out_and_is_disconnected(self) -> None:
        clock = Clock()
        endpoint = StringEndpoint()
        d = send_check(endpoint, REQUEST, 60, clock)
        clock.advance(59)
        self.assertNoResult(d)
        clock.advance(1)
        failure = self.failureResultOf(d, TimeoutError)
        self.assertEqual(str(failure.value), "no answer from the worker within 60 s")  # a dead letter's reason
        self.assertTrue(endpoint.transport.disconnected)

    def test_connection_that_never_completes_times_out(self) -> None:
        clock = Clock()
        endpoint = StringEndpoint(connect=False)
        d = send_check(endpoint, REQUEST, 5, clock)
        clock.advance(5)
        self.failureResultOf(d, TimeoutError)

    def test_with_a_secret_the_check_carries_a_token_the_worker_accepts(self) -> None:
        clock = Clock()
        clock.advance(1_790_000_000)
        endpoint = StringEndpoint()
        send_check(endpoint, REQUEST, 60, clock, Tokens(b"s3cret", clock, window=30))
        sent = parse_check(endpoint.transport.value())
        self.assertEqual(sent, REQUEST)
        Tokens(b"s3cret", clock, window=30).check(sent.signed(), sent.token)  # the worker's side


def test_an_ip_address_is_connected_to_without_resolving() -> None:
    """A worker registered by IP address: straight to connectTCP, no resolver thread."""
    reactor = MemoryReactorClock()
    request = CheckRequest("http://a.example/", "AD", "S1")
    for host in ("127.0.0.1", "::1"):
        d = check_on_worker(reactor, host, 54001, request, timeout=5, connect_timeout=2)
        assert reactor.tcpClients[-1][:2] == (host, 54001)
        assert reactor.tcpClients[-1][3] == 2
        d.cancel()
        d.addErrback(lambda _: None)
    assert len(reactor.tcpClients) == 2


def test_a_connection_closed_while_connecting_is_reported_without_a_traceback() -> None:
    from twisted.internet.error import ConnectError, ConnectionDone

    from herd.scan.orchestrator.worker_connection import plain_connect_error

    raw = Failure(ConnectError(string=Failure(ConnectionDone())))  # as twisted.internet.tcp does
    assert "Traceback" in raw.getErrorMessage()
    plain = plain_connect_error(raw)
    assert plain.check(ConnectError)
    assert "Traceback" not in plain.getErrorMessage()
    assert "Connection was closed cleanly" in plain.getErrorMessage()
    other = Failure(ConnectError(string="refused"))
    assert plain_connect_error(other) is other
