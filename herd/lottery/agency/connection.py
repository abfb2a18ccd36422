"""An agency's link to the server: one request at a time, resent on a new connection
when the old one fails.

The server stores a resent bet once (a bet is its whole row), so resending a frame whose
ACKNOWLEDGE was lost is safe: the agency's bets are stored exactly once even across a
server's crash and restart.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectError, ConnectionDone, ConnectionLost, TimeoutError
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from herd.protocols.lottery import ClientFrame, FrameError, ServerFrame, ServerFrameParser


class LinkError(Exception):
    """The server could not be reached or gave no answer in time."""


class LinkStopped(Exception):
    """``stop`` was called while the link waited to try again."""


class AgencyConnection(Protocol):
    """Frames out, the server's frames back to whoever is waiting for them, in order."""

    def __init__(self) -> None:
        self._parser = ServerFrameParser()
        self._waiting: deque[Deferred[ServerFrame]] = deque()
        self.closed = False

    def request(self, frame: ClientFrame) -> Deferred[ServerFrame]:
        """Send ``frame``; fires with the server's answer."""
        answer: Deferred[ServerFrame] = Deferred(lambda d: self.transport.abortConnection())
        self._waiting.append(answer)
        self.transport.write(frame.encode())
        return answer

    def dataReceived(self, data: bytes) -> None:
        try:
            for frame in self._parser.feed(data):
                if not self._waiting:
                    raise FrameError(f"unexpected {frame.kind.name} from the server")
                self._waiting.popleft().callback(frame)
        except FrameError:
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed = True
        waiting, self._waiting = self._waiting, deque()
        for answer in waiting:
            if not answer.called:
                answer.errback(reason)


class Link:
    """Ask the server, reconnecting and resending for up to ``timeout`` seconds per frame."""

    log = Logger()

    def __init__(self, endpoint: IStreamClientEndpoint, clock: IReactorTime, timeout: float,
                 connect: Callable[..., Deferred[Any]]) -> None:
        self._endpoint = endpoint
        self._clock = clock
        self._timeout = timeout
        self._connect = connect
        self._connection: Optional[AgencyConnection] = None
        self._stopped = False
        self._sleep: Optional[Deferred[None]] = None

    def stop(self) -> None:
        """Try no more: a request in flight may still be answered, but a failed one is not
        sent again (SIGTERM while the server is away)."""
        self._stopped = True
        if self._sleep is not None:
            self._sleep.cancel()

    async def ask(self, frame: ClientFrame) -> ServerFrame:
        """The server's answer to ``frame``; ``LinkError`` once ``timeout`` has passed."""
        started = self._clock.seconds()
        delay = 0.05
        while True:
            try:
                connection = await self._connected()
                answer = connection.request(frame)
                answer.addTimeout(self._timeout, self._clock)
                return await answer
            except (ConnectError, ConnectionLost, ConnectionDone, TimeoutError, CancelledError) as error:
                self.close()
                if self._stopped:
                    raise LinkStopped() from None
                elapsed = self._clock.seconds() - started
                if elapsed + delay > self._timeout:
                    raise LinkError(f"no answer to {frame.kind.name} in {elapsed:.1f} s: "
                                    f"{error.__class__.__name__}") from None
                self.log.info("no answer to {kind} ({error}); trying again in {delay:g} s",
                              kind=frame.kind.name, error=error.__class__.__name__, delay=delay)
                self._sleep = deferLater(self._clock, delay)
                try:
                    await self._sleep
                except CancelledError:
                    raise LinkStopped() from None
                finally:
                    self._sleep = None
                delay = min(delay * 2, 1.0)

    async def _connected(self) -> AgencyConnection:
        if self._connection is None or self._connection.closed:
            self._connection = await self._connect(self._endpoint, AgencyConnection())
        return self._connection

    def close(self) -> None:
        """Close the connection (a new one opens on the next ``ask``)."""
        if self._connection is not None and not self._connection.closed:
            self._connection.transport.loseConnection()
        self._connection = None
