"""The orchestrator's datagram protocol: one reply per datagram, whatever arrives."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.protocols.scan import Request
from herd.scan.orchestrator.connection import OrchestratorProtocol
from herd.scan.orchestrator.service import Orchestrator
from tests.fakes import FakeDatagramTransport

PEER = ("127.0.0.1", 40000)


class OrchestratorProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.orchestrator = Orchestrator(lambda *a: None, Clock())  # no worker registers here
        self.protocol = OrchestratorProtocol(self.orchestrator.handle)
        self.transport = FakeDatagramTransport()
        self.protocol.transport = self.transport

    def send(self, datagram: bytes) -> bytes:
        self.protocol.datagramReceived(datagram, PEER)
        data, addr = self.transport.written[-1]
        self.assertEqual(addr, PEER)
        return data

    def test_check_with_crlf_crlf(self) -> None:
        reply = self.send(b"CHECK http://h/file1.html IRISH_CSE S1\r\n\r\n")
        self.assertEqual(reply, b"200 OK 1\n")
        self.assertEqual(self.orchestrator.queue.depth, 1)

    def test_dialects_of_status_and_hits(self) -> None:
        for message in (b"STATUS", b"POOL_STATUS\r\n", b"status"):
            self.assertTrue(self.send(message).startswith(b"200 STATUS page 1/1"), message)
        for message in (b"HITS 3", b"GET_HITS 5\n", b"LAST_HITS 1", b"HITS"):
            self.assertEqual(self.send(message), b"200 HITS 0\n", message)

    def test_malformed_datagrams_get_an_error_and_change_nothing(self) -> None:
        for message in (b"", b"HELLO", b"CHECK onlyone", b"\xff\xfe", b"HITS 9", b"A" * 1401,
                        b"REGISTER h 99999 w", b"CHECK ftp://h/x IRISH S1"):
            reply = self.send(message)
            self.assertTrue(reply.startswith(b"400 ERROR "), (message, reply))
            self.assertLessEqual(len(reply), 1024)
        self.assertEqual(self.orchestrator.queue.depth, 0)
        self.assertEqual(len(self.orchestrator.pool), 0)

    def test_a_crash_in_the_service_is_answered_and_logged(self) -> None:
        def broken(request: Request, sender: str) -> bytes:
            raise RuntimeError("boom")

        protocol = OrchestratorProtocol(broken)
        protocol.transport = self.transport
        protocol.datagramReceived(b"STATUS", PEER)
        self.assertEqual(self.transport.written[-1][0], b"500 ERROR internal error, see the orchestrator's log\n")
        protocol.datagramReceived(b"HITS", PEER)
        self.assertEqual(len(self.transport.written), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_unsendable_reply_does_not_stop_the_protocol(self) -> None:
        class Refusing(FakeDatagramTransport):
            def write(self, data: bytes, addr: tuple[str, int]) -> None:
                raise OSError(101, "Network is unreachable")

        self.protocol.transport = Refusing()
        self.protocol.datagramReceived(b"STATUS", PEER)
        self.protocol.transport = self.transport
        self.assertEqual(self.send(b"HITS"), b"200 HITS 0\n")
