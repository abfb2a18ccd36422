"""The thin TCP protocol every replication component speaks: frame, parse, hand over.

A ``MessageConnection`` splits its bytes into messages (``herd.protocols.replication``) and
calls its handler: ``received(conn, message)`` for each valid one, ``refused(conn, why)``
for each invalid one, ``disconnected(conn)`` at the end. A message longer than the codec's
limit, a half-close, or a connection that says nothing valid within ``idle`` seconds is
refused and the connection dropped. The handler decides everything else (including who the
peer is, from its ``hello`` or its first message: ``conn.peer``).
"""

from __future__ import annotations

from typing import Any, Optional, Protocol as Interface

from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from herd.core.links import Link
from herd.protocols.replication import BadMessage, Framer, Message, format_message


class Conn(Interface):
    """What a service sees of a connection (``MessageConnection``, or a fake in tests)."""

    peer: Optional[str]

    def identified(self, name: str) -> None: ...
    def send(self, message: Message) -> None: ...
    def close(self) -> None: ...
    def describe(self) -> str: ...


class Handler(Interface):
    """What a connection calls: the service of a component."""

    def connected(self, conn: Conn) -> None: ...
    def received(self, conn: Conn, message: Message) -> None: ...
    def refused(self, conn: Conn, why: str) -> None: ...
    def disconnected(self, conn: Conn) -> None: ...



class Component:
    """What every component's service does with a connection unless it says otherwise.

    Subclasses set ``name`` (``S1``, ``LFD1``, ``GFD``, ``RM``, ``C1``) and ``console`` and
    override what matters to them; a refused message is always printed, naming the sender.
    """

    name: str
    console: Any

    def connected(self, conn: Conn) -> None:
        """A connection is up (nothing to do by default)."""

    def disconnected(self, conn: Conn) -> None:
        """A connection is gone (nothing to do by default)."""

    def refused(self, conn: Conn, why: str) -> None:
        """Print a refused message with its sender and the reason."""
        self.console.say(f"{self.name}: refused a message from {conn.describe()}: {why}")

@implementer(IHalfCloseableProtocol)
class MessageConnection(Protocol, TimeoutMixin):
    """One connection carrying replication messages."""

    log = Logger()

    def __init__(self, handler: Handler, idle: Optional[float] = None,
                 link: Optional[Link["MessageConnection"]] = None) -> None:
        self.handler = handler
        self.peer: Optional[str] = None  # set by the handler once it knows who talks
        self.link = link
        self._idle = idle
        self._framer = Framer()
        self.open = False

    def connectionMade(self) -> None:
        self.open = True
        if self._idle is not None:
            self.setTimeout(self._idle)
        if self.link is not None:
            self.link.up(self)
        self.handler.connected(self)

    def dataReceived(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except BadMessage as error:
            self.handler.refused(self, str(error))
            self.transport.abortConnection()
            return
        for message in messages:
            if not self.open:
                return
            if isinstance(message, BadMessage):
                self.handler.refused(self, str(message))
            else:
                self.handler.received(self, message)

    def identified(self, name: str) -> None:
        """The handler knows who is at the other end: no more idle deadline."""
        self.peer = name
        self.setTimeout(None)

    def timeoutConnection(self) -> None:
        self.handler.refused(self, f"nothing valid within {self._idle:g} s")
        self.transport.abortConnection()

    def readConnectionLost(self) -> None:
        if self.peer is None:  # a half-open connection that never said who it is
            self.handler.refused(self, "half-closed connection")
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.open = False
        self.setTimeout(None)
        if self.link is not None:
            self.link.down(self, reason)
        self.handler.disconnected(self)

    def send(self, message: Message) -> None:
        if self.open:
            self.transport.write(format_message(message))

    def close(self) -> None:
        self.transport.loseConnection()

    def describe(self) -> str:
        if self.peer:
            return self.peer
        address = self.transport.getPeer() if self.transport else None
        return f"{getattr(address, 'host', '?')}:{getattr(address, 'port', '?')}"


class MessageFactory(Factory):
    """Incoming connections, all with the same handler."""

    noisy = False

    def __init__(self, handler: Handler, clock: IReactorTime, idle: float = 10.0) -> None:
        self.handler = handler
        self.clock = clock
        self.idle = idle

    def buildProtocol(self, addr: object) -> MessageConnection:
        conn = MessageConnection(self.handler, self.idle)
        conn.callLater = self.clock.callLater  # TimeoutMixin's clock
        conn.factory = self
        return conn
