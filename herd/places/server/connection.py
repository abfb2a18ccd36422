"""The places server's TCP face, for clients and for neighbouring servers.

A connection carries newline-terminated commands, answered in order. A last command
without a newline is answered when the client half-closes its side, then the connection
is closed once every reply is out. A connection whose first line is ``PEER <server>``
belongs to a neighbour: it carries flooded AT lines and gets no replies.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from herd.places.server.service import PlacesServer
from herd.places.server.traffic import TrafficLog
from herd.protocols.places import (
    MAX_LINE,
    WHITESPACE,
    At,
    IAmAt,
    InvalidCommand,
    PeerHello,
    WhatsAt,
    invalid_reply,
    parse_command,
)


class _Reply:
    """A reply slot: filled when its answer is ready, written in arrival order."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: Optional[bytes] = None


@implementer(IHalfCloseableProtocol)
class PlacesProtocol(Protocol, TimeoutMixin):
    """Split lines, hand commands to the server, write replies in order."""

    log = Logger()

    def __init__(self, server: PlacesServer, traffic: TrafficLog, idle_timeout: float) -> None:
        self._server = server
        self._traffic = traffic
        self._idle_timeout = idle_timeout
        self._buffer = b""
        self._replies: deque[_Reply] = deque()
        self._peer_server: Optional[str] = None
        self._lines = 0
        self._closing = False
        self.who = "client"

    def connectionMade(self) -> None:
        address = self.transport.getPeer()
        self.who = f"client {getattr(address, 'host', '?')}:{getattr(address, 'port', '?')}"
        self.setTimeout(self._idle_timeout)

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        self._buffer += data
        while not self._closing:
            line, newline, rest = self._buffer.partition(b"\n")
            if not newline:
                break
            self._buffer = rest
            self._line(line)
        if len(self._buffer) > MAX_LINE and not self._closing:
            line, self._buffer = self._buffer, b""
            self._line(line)
            self._close_when_answered()

    def readConnectionLost(self) -> None:
        line, self._buffer = self._buffer, b""
        if line.strip(WHITESPACE):
            self._line(line)
        self._close_when_answered()

    def writeConnectionLost(self) -> None:
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure) -> None:
        self.setTimeout(None)
        if self._peer_server is not None:
            self._traffic.peer_down(self._peer_server, "incoming", reason.getErrorMessage())

    def timeoutConnection(self) -> None:
        self.log.info("{who} idle for {seconds:g} s: closing", who=self.who, seconds=self._idle_timeout)
        self.transport.loseConnection()

    def _line(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        self._lines += 1
        if self._peer_server is not None:
            self._flooded(line)
            return
        if not line.strip(WHITESPACE):
            return
        self._traffic.received(self.who, line)
        try:
            command = parse_command(line)
        except InvalidCommand:
            command = None
        if isinstance(command, IAmAt):
            self._answer(maybeDeferred(self._server.iamat, command), line)
        elif isinstance(command, WhatsAt):
            self._answer(maybeDeferred(self._server.whatsat, command, line), line)
        elif isinstance(command, PeerHello) and self._lines == 1:
            self._peer_server = command.server.decode("ascii")
            self.who = f"server {self._peer_server}"
            self.setTimeout(None)  # a neighbour's feed stays open
            self._traffic.peer_up(self._peer_server, "incoming")
            on_peer = getattr(self.factory, "on_peer", None)
            if on_peer is not None:
                on_peer(self._peer_server)
        else:
            self._answer(succeed(invalid_reply(line)), line)

    def _flooded(self, line: bytes) -> None:
        try:
            at = parse_command(line)
        except InvalidCommand:
            at = None
        if not isinstance(at, At):
            self.log.warn("ignored a line from {who} that is not AT", who=self.who)
            return
        news = self._server.learned(at, self._peer_server or "")
        self._traffic.flooded_in(self._peer_server or "?", line, news)

    def _answer(self, reply: Deferred[bytes], line: bytes) -> None:
        slot = _Reply()
        self._replies.append(slot)
        reply.addCallbacks(self._fill, self._failed, (slot,), None, (slot, line))

    def _fill(self, data: bytes, slot: _Reply) -> None:
        slot.data = data
        while self._replies and self._replies[0].data is not None:
            out = self._replies.popleft().data
            assert out is not None
            self._traffic.sent(self.who, out)
            self.transport.write(out)
        if self._closing and not self._replies:
            self.transport.loseConnection()

    def _failed(self, failure: Failure, slot: _Reply, line: bytes) -> None:
        self.log.failure("answering {who}", failure, who=self.who)
        self._fill(invalid_reply(line), slot)

    def _close_when_answered(self) -> None:
        self._closing = True
        if not self._replies:
            self.transport.loseConnection()


class PlacesFactory(Factory):
    """Builds a PlacesProtocol per connection, all sharing one server."""

    noisy = False

    def __init__(
        self, server: PlacesServer, traffic: TrafficLog, clock: IReactorTime, idle_timeout: float = 120.0,
        on_peer: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.server = server
        self.traffic = traffic
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.on_peer = on_peer
        """Called with a neighbour's name when it connects (``Neighbours.hurry``)."""

    def buildProtocol(self, addr: object) -> PlacesProtocol:
        protocol = PlacesProtocol(self.server, self.traffic, self.idle_timeout)
        protocol.callLater = self.clock.callLater  # TimeoutMixin's clock
        protocol.factory = self
        return protocol
