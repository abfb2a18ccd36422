"""The lottery server's TCP face: frames in, the service's answers out, in order.

A connection may carry any number of frames, from any agency (the agency id says who
sends each one). Answers are written in the order the frames came. A frame that breaks
the protocol is logged (``action: apuesta_recibida | result: fail | cantidad: N | error:
...``), nothing of it is stored, no later frame of that connection is read, and the
connection is closed once the answers to the frames before it are out: the protocol has
no error kind.
"""

from __future__ import annotations

from collections import deque
from typing import Optional, Union

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from herd.lottery.server.service import LotteryService, Refused
from herd.protocols.lottery import (
    NOT_YET,
    ClientFrame,
    ClientKind,
    FrameParser,
    ProtocolError,
    ServerFrame,
    acknowledgement,
    batch_texts,
    betting_results,
    check_empty,
    parse_bet,
    split_batch,
)

PAUSE_AT = 64
"""Frames waiting for their answer on one connection before it stops being read."""


class _Slot:
    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: Optional[bytes] = None


class LotteryConnection(Protocol, TimeoutMixin):
    """Parse frames, hand them to the service, write its answers in order."""

    log = Logger()

    def __init__(self, service: LotteryService, idle_timeout: float) -> None:
        self._service = service
        self._idle_timeout = idle_timeout
        self._parser = FrameParser()
        self._slots: deque[_Slot] = deque()
        self._closing = False
        self._paused = False
        self.who = "?"

    def connectionMade(self) -> None:
        if self.factory is not None:
            self.factory.connections.add(self)
        peer = self.transport.getPeer()
        self.who = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self.setTimeout(self._idle_timeout)

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self.resetTimeout()
        try:
            for frame in self._parser.feed(data):
                self._frame(frame)
                if self._closing:
                    return
        except ProtocolError as error:
            self._refuse(str(error), error.count)
        if len(self._slots) >= PAUSE_AT and not self._paused:
            self._paused = True
            self.transport.pauseProducing()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.setTimeout(None)
        if self.factory is not None:
            self.factory.lost(self)
        missing = None if self._closing else self._parser.truncation()
        if missing is not None:
            self._fail(missing, 0)

    def timeoutConnection(self) -> None:
        self.log.info("connection {who} idle for {seconds:g} s: closing",
                      who=self.who, seconds=self._idle_timeout)
        self.transport.loseConnection()

    def _frame(self, frame: ClientFrame) -> None:
        service = self._service
        try:
            service.check_agency(frame.agency)
            answer: Union[Deferred, ServerFrame]
            if frame.kind is ClientKind.POST_BET:
                answer = service.post_bet(frame.agency, _one(frame.payload))
            elif frame.kind is ClientKind.BET_BATCH:
                answer = service.batch(frame.agency, batch_texts(frame.payload))
            elif frame.kind is ClientKind.BET_BATCH_END:
                check_empty(frame)
                answer = Deferred.fromCoroutine(service.end(frame.agency))
            else:
                check_empty(frame)
                documents = service.winners(frame.agency)
                answer = NOT_YET if documents is None else betting_results(documents)
        except ProtocolError as error:
            self._refuse(f"{frame.kind.name} from agency {frame.agency}: {error}", error.count)
            return
        except Refused as error:
            self._refuse(f"{frame.kind.name}: {error}", _count(frame))
            return
        slot = _Slot()
        self._slots.append(slot)
        if isinstance(answer, ServerFrame):
            slot.data = answer.encode()
            self._flush()
        else:  # an ACKNOWLEDGE of the value the Deferred fires with
            answer.addCallbacks(self._acknowledge, self._failed, (slot,), None, (slot, frame))

    def _acknowledge(self, value: int, slot: _Slot) -> None:
        slot.data = acknowledgement(value)
        self._flush()

    def _failed(self, failure: Failure, slot: _Slot, frame: ClientFrame) -> None:
        if failure.check(Refused):
            self._fail(f"{frame.kind.name}: {failure.getErrorMessage()}", _count(frame))
        else:
            self.log.failure("storing {kind} from agency {agency}", failure,
                             kind=frame.kind.name, agency=frame.agency)
            self._fail(f"{frame.kind.name} not stored: {failure.getErrorMessage()}", _count(frame))
        self._slots.remove(slot)
        self._closing = True
        self._flush()

    def _flush(self) -> None:
        while self._slots and self._slots[0].data is not None:
            self.transport.write(self._slots.popleft().data)
        if self._closing and not self._slots:
            self.transport.loseConnection()
        elif self._paused and len(self._slots) < PAUSE_AT // 4:
            self._paused = False
            self.transport.resumeProducing()

    def close_when_answered(self) -> None:
        """Read no more frames; close once the answers to those read are out."""
        self._closing = True
        self._flush()

    def _refuse(self, error: str, count: int) -> None:
        self._fail(error, count)
        self._closing = True
        self._flush()

    def _fail(self, error: str, count: int) -> None:
        self.log.warn(
            "action: apuesta_recibida | result: fail | cantidad: {cantidad} | error: {error} "
            "| from: {who}", cantidad=count, error=error, who=self.who,
        )


def _one(payload: bytes):  # type: ignore[no-untyped-def]
    try:
        return parse_bet(payload)
    except ProtocolError as error:
        raise ProtocolError(str(error), 1) from None


def _count(frame: ClientFrame) -> int:
    if frame.kind is ClientKind.POST_BET:
        return 1
    if frame.kind is ClientKind.BET_BATCH:
        try:
            return len(split_batch(frame.payload))
        except ProtocolError as error:
            return error.count
    return 0


class LotteryFactory(Factory):
    """A ``LotteryConnection`` per connection, all sharing one service."""

    noisy = False

    def __init__(self, service: LotteryService, clock: IReactorTime, idle_timeout: float = 60.0) -> None:
        self.service = service
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.connections: set[LotteryConnection] = set()
        self._all_lost: list[Deferred[None]] = []

    def buildProtocol(self, addr: object) -> LotteryConnection:
        connection = LotteryConnection(self.service, self.idle_timeout)
        connection.callLater = self.clock.callLater  # TimeoutMixin's clock
        connection.factory = self
        return connection

    def lost(self, connection: LotteryConnection) -> None:
        """``connection`` is closed."""
        self.connections.discard(connection)
        if not self.connections:
            waiters, self._all_lost = self._all_lost, []
            for waiter in waiters:
                if not waiter.called:
                    waiter.callback(None)

    def close_all(self, grace: float = 5.0) -> Deferred[None]:
        """Close every connection once its answers are out (SIGTERM); fires once all are
        closed, aborting those still open after ``grace`` seconds."""
        if not self.connections:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._all_lost.append(waiter)
        for connection in list(self.connections):
            connection.close_when_answered()

        def abort(failure: Failure) -> None:
            for connection in list(self.connections):
                connection.transport.abortConnection()

        waiter.addTimeout(grace, self.clock).addErrback(abort)
        return waiter
