"""The echo server's connections: one message in, the same message back, then close.

A message ends at its first newline, at the client's half-close, or at 1,024 bytes (the
course's server read once, up to 1,024 bytes). It is answered with itself and a newline,
as the course's was, and logged ``action: receive_message | result: success | ip: ... |
msg: ...``.
"""

from __future__ import annotations

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

MAX_MESSAGE = 1024


@implementer(IHalfCloseableProtocol)
class EchoConnection(Protocol, TimeoutMixin):
    """Echo one message, then close."""

    log = Logger()

    def __init__(self, timeout: float = 10.0) -> None:
        self._buffer = b""
        self._done = False
        self._timeout = timeout

    def connectionMade(self) -> None:
        self.setTimeout(self._timeout)

    def dataReceived(self, data: bytes) -> None:
        if self._done:
            return
        self._buffer += data
        line, newline, _ = self._buffer.partition(b"\n")
        if newline or len(self._buffer) >= MAX_MESSAGE:
            self._answer(line[:MAX_MESSAGE])

    def readConnectionLost(self) -> None:
        if not self._done:
            self._answer(self._buffer)

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def timeoutConnection(self) -> None:
        self.log.info("action: receive_message | result: fail | error: nothing within {s:g} s",
                      s=self._timeout)
        self.transport.loseConnection()

    def connectionLost(self, reason: object = None) -> None:
        self.setTimeout(None)

    def _answer(self, message: bytes) -> None:
        self._done = True
        self.setTimeout(None)
        text = message.rstrip(b"\r").decode("utf-8", errors="replace")
        peer = self.transport.getPeer()
        self.log.info("action: receive_message | result: success | ip: {ip} | msg: {msg}",
                      ip=getattr(peer, "host", "?"), msg=text)
        self.transport.write(message.rstrip(b"\r") + b"\n")
        self.transport.loseConnection()


class EchoFactory(Factory):
    """An ``EchoConnection`` per connection."""

    noisy = False
    protocol = EchoConnection
