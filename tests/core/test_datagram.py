"""herd.core.datagram.request: one UDP request and its reply (fake reactor, fake socket)."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.core.datagram import NoAnswer, request


class FakeUDPPort:
    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.connected: Any = None
        self.sent: list[bytes] = []
        self.stopped = False
        protocol.transport = self

    def connect(self, host: str, port: int) -> None:
        self.connected = (host, port)

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def stopListening(self) -> None:
        self.stopped = True


class FakeReactor(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.ports: list[FakeUDPPort] = []

    def resolve(self, host: str) -> defer.Deferred[str]:
        return defer.succeed("127.0.0.1") if host != "nowhere.invalid" else defer.fail(OSError("no"))

    def listenUDP(self, port: int, protocol: Any, interface: str = "") -> FakeUDPPort:
        self.ports.append(FakeUDPPort(protocol))
        return self.ports[-1]


class RequestTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = FakeReactor()

    def ask(self, host: str = "localhost") -> defer.Deferred[bytes]:
        return defer.Deferred.fromCoroutine(request(self.reactor, host, 54000, b"STATUS 1", 2.0))

    def test_the_reply(self) -> None:
        d = self.ask()
        [port] = self.reactor.ports
        self.assertEqual((port.connected, port.sent), (("127.0.0.1", 54000), [b"STATUS 1"]))
        port.protocol.datagramReceived(b"200 STATUS ...", ("127.0.0.1", 54000))
        self.assertEqual(self.successResultOf(d), b"200 STATUS ...")
        self.assertTrue(port.stopped)

    def test_no_answer_in_time(self) -> None:
        d = self.ask()
        self.reactor.advance(2.0)
        self.assertEqual(str(self.failureResultOf(d, NoAnswer).value), "no answer from localhost:54000 within 2 s")
        self.assertTrue(self.reactor.ports[0].stopped)

    def test_nothing_listens(self) -> None:
        d = self.ask()
        self.reactor.ports[0].protocol.stopProtocol()  # epoll's EPOLLERR after ICMP unreachable
        self.assertEqual(str(self.failureResultOf(d, NoAnswer).value), "nothing listens on localhost:54000 (UDP)")

    def test_unknown_host(self) -> None:
        d = self.ask("nowhere.invalid")
        self.assertEqual(str(self.failureResultOf(d, NoAnswer).value), "cannot resolve nowhere.invalid")
