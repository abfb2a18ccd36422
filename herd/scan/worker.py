"""The worker's TCP face: one CHECK request per connection, one result line back.

The orchestrator ends its request with a newline. The original (Part 1) client does not: it
writes ``CHECK <URL> <AdID> <SiteID>`` and waits for one read of the reply. Such a request
is taken as complete when the client half-closes its side, or when nothing more arrives for
``quiet`` seconds.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from herd.protocols.scan import MAX_DATAGRAM, CheckRequest, ProtocolError, parse_check
from herd.protocols.scan_replies import Result, format_error, format_result

Scan = Callable[[CheckRequest], "Deferred[Result]"]


@implementer(IHalfCloseableProtocol)
class CheckServer(Protocol):
    """Read one CHECK request, run it through ``scan``, write the result, close."""

    log = Logger()

    def __init__(self, scan: Scan, clock: IReactorTime, quiet: float, idle_timeout: float) -> None:
        self._scan = scan
        self._clock = clock
        self._quiet = quiet
        self._idle_timeout = idle_timeout
        self._buffer = b""
        self._timer: Optional[IDelayedCall] = None
        self._job: Optional[Deferred[bytes]] = None
        self._answered = False

    def connectionMade(self) -> None:
        self._timer = self._clock.callLater(self._idle_timeout, self._idle)

    def dataReceived(self, data: bytes) -> None:
        if self._job is not None or self._answered:
            return  # one request per connection; anything after it is ignored
        self._buffer += data
        line, newline, _ = self._buffer.partition(b"\n")
        if newline:
            self._start(line)
        elif len(self._buffer) > MAX_DATAGRAM:
            self._start(self._buffer)  # refused as too long
        else:
            self._set_timer(self._quiet, self._request_ended)

    def readConnectionLost(self) -> None:
        if self._job is None and not self._answered:
            self._request_ended()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:
        self._set_timer(None, None)
        if self._job is not None and not self._job.called:
            self._job.cancel()  # the orchestrator gave up; stop fetching

    def _request_ended(self) -> None:
        if self._buffer.strip():
            self._start(self._buffer)
        else:
            self._finish(format_error("empty request: send CHECK <URL> <AdID> <SiteID>"))

    def _idle(self) -> None:
        self._timer = None
        self._finish(format_error(f"no request within {self._idle_timeout:g} s"))

    def _start(self, line: bytes) -> None:
        self._set_timer(None, None)
        peer = self.transport.getPeer()
        try:
            request = parse_check(line)
        except ProtocolError as error:
            self.log.info("refused a request from {peer}: {reason}", peer=str(peer), reason=str(error))
            self._finish(format_error(str(error)))
            return
        self.log.info(
            "CHECK {url} {ad_id} {site_id} from {peer}",
            url=request.url,
            ad_id=request.ad_id,
            site_id=request.site_id,
            peer=str(peer),
        )
        self._job = self._scan(request).addCallbacks(format_result, self._crashed)
        self._job.addCallback(self._finish)

    def _crashed(self, failure: Failure) -> bytes:
        if failure.check(CancelledError):
            self.log.info("the client left before the answer; job cancelled")
            return b""
        self.log.failure("scanning failed", failure)
        return format_error("internal error in the worker, see its log")

    def _finish(self, reply: bytes) -> None:
        self._answered = True
        if self.transport.connected:
            self.transport.write(reply)
            self.transport.loseConnection()

    def _set_timer(self, delay: Optional[float], action: Optional[Callable[[], None]]) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None if delay is None else self._clock.callLater(delay, action)


class CheckServerFactory(Factory):
    """Builds a CheckServer per connection, all sharing one ``scan``."""

    noisy = False

    def __init__(
        self, scan: Scan, clock: IReactorTime, quiet: float = 0.25, idle_timeout: float = 30.0
    ) -> None:
        self._scan = scan
        self._clock = clock
        self.quiet = quiet
        self.idle_timeout = idle_timeout

    def buildProtocol(self, addr: object) -> CheckServer:
        return CheckServer(self._scan, self._clock, self.quiet, self.idle_timeout)
