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


class _FdReactor:
    """Just what a udp.Port asks of its reactor here (no global reactor in unit tests)."""

    def addReader(self, reader: object) -> None:
        pass

    def removeReader(self, reader: object) -> None:
        pass

    def removeWriter(self, writer: object) -> None:
        pass


def test_read_batch_port_calls_read_done_once_per_read_and_survives_its_errors() -> None:
    """The port hands every waiting datagram over, then calls readDone; an exception there
    is logged, never raised into the reactor (which would close the port)."""
    import socket as socket_module
    import select

    from twisted.logger import globalLogPublisher

    from herd.scan.orchestrator.connection import OrchestratorProtocol, ReadBatchPort

    seen: list[str] = []

    def read_done() -> None:
        seen.append("done")
        raise RuntimeError("boom")

    protocol = OrchestratorProtocol(lambda request, sender: b"200 OK\n", read_done=read_done)
    port = ReadBatchPort(0, protocol, interface="127.0.0.1", reactor=_FdReactor())
    port.startListening()
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    sender = socket_module.socket(socket_module.AF_INET, socket_module.SOCK_DGRAM)
    try:
        address = ("127.0.0.1", port.getHost().port)
        sender.sendto(b"STATUS", address)
        sender.sendto(b"STATUS", address)
        # loopback delivers a datagram within sendto; wait (bounded) until it is readable
        assert select.select([port.socket], [], [], 1.0)[0], "the datagrams never arrived"
        port.doRead()  # reads both, then calls readDone once
        sender.settimeout(1)
        assert sender.recv(100) == b"200 OK\n" and sender.recv(100) == b"200 OK\n"
    finally:
        sender.close()
        globalLogPublisher.removeObserver(events.append)
        port.connectionLost()
    assert seen == ["done"]
    assert any("boom" in str(e.get("log_failure", "")) for e in events)
