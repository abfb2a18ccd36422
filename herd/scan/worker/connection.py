"""The worker's TCP face: one CHECK request per connection, one result line back.

The orchestrator ends its request with a newline. The original (Part 1) client does not: it
writes ``CHECK <URL> <AdID> <SiteID>`` and waits for one read of the reply. Such a request
is taken as complete when the client half-closes its side, or when nothing more arrives for
``quiet`` seconds.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from herd.core.tokens import TokenError, Tokens
from herd.protocols.scan import MAX_DATAGRAM, CheckRequest, ProtocolError, parse_check
from herd.protocols.scan_replies import Result, format_error, format_result
from herd.core.loglevel import LevelLogger

Scan = Callable[[CheckRequest], "Deferred[Result]"]


@implementer(IHalfCloseableProtocol)
class CheckServer(Protocol, TimeoutMixin):
    """Read one CHECK request, run it through ``scan``, write the result, close."""

    log = LevelLogger()

    def __init__(
        self,
        scan: Scan,
        clock: IReactorTime,
        quiet: float,
        idle_timeout: float,
        tokens: Optional[Tokens] = None,
        jobs: Optional["JobCounter"] = None,
    ) -> None:
        self._scan = scan
        self._tokens = tokens
        self._jobs = jobs if jobs is not None else JobCounter()
        self._clock = clock
        self._quiet = quiet
        self._idle_timeout = idle_timeout
        self._buffer = b""
        self.callLater = clock.callLater  # TimeoutMixin's clock
        self._job: Optional[Deferred[bytes]] = None
        self._answered = False

    def connectionMade(self) -> None:
        self.setTimeout(self._idle_timeout)

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
            self.setTimeout(self._quiet)  # a request without a newline ends after a quiet time

    def readConnectionLost(self) -> None:
        if self._job is None and not self._answered:
            self._request_ended()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:
        self.setTimeout(None)
        if self._job is not None and not self._job.called:
            self._job.cancel()  # the orchestrator gave up; stop fetching

    def _request_ended(self) -> None:
        if self._buffer.strip():
            self._start(self._buffer)
        else:
            self._finish(format_error("empty request: send CHECK <URL> <AdID> <SiteID>"))

    def timeoutConnection(self) -> None:
        """TimeoutMixin: the quiet time after a partial request, or the idle timeout."""
        if self._buffer:
            self._request_ended()
        else:
            self._idle()

    def _idle(self) -> None:
        self._finish(format_error(f"no request within {self._idle_timeout:g} s"))

    def _start(self, line: bytes) -> None:
        self.setTimeout(None)
        peer = self.transport.getPeer()
        try:
            request = parse_check(line)
        except ProtocolError as error:
            self.log.info("refused a request from {peer}: {reason}", peer=str(peer), reason=str(error))
            self._finish(format_error(str(error)))
            return
        if self._tokens is not None:
            try:
                self._tokens.check(request.signed(), request.token)
            except TokenError as error:
                self.log.warn("refused a CHECK from {peer}: {reason}", peer=str(peer), reason=str(error))
                self._finish(format_error(str(error), "403 ERROR"))
                return
        self.log.debug(
            "CHECK {url} {ad_id} {site_id} from {peer}",
            url=request.url,
            ad_id=request.ad_id,
            site_id=request.site_id,
            peer=str(peer),
        )
        self._jobs.running += 1
        self._job = self._scan(request).addBoth(self._jobs.done)
        self._job.addCallbacks(format_result, self._crashed)
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


class JobCounter:
    """How many jobs a worker is running now (its heartbeats report it)."""

    def __init__(self) -> None:
        self.running = 0

    def done(self, outcome: object) -> object:
        self.running -= 1
        return outcome


class CheckServerFactory(Factory):
    """Builds a CheckServer per connection, all sharing one ``scan``.

    With ``tokens``, a CHECK must carry a valid ``token=`` (only the orchestrator, which
    shares the secret, can drive the worker); without, any client may.
    """

    noisy = False

    def __init__(
        self,
        scan: Scan,
        clock: IReactorTime,
        quiet: float = 0.25,
        idle_timeout: float = 30.0,
        tokens: Optional[Tokens] = None,
    ) -> None:
        self._scan = scan
        self._clock = clock
        self.quiet = quiet
        self.idle_timeout = idle_timeout
        self.tokens = tokens
        self.jobs = JobCounter()

    def buildProtocol(self, addr: object) -> CheckServer:
        return CheckServer(self._scan, self._clock, self.quiet, self.idle_timeout, self.tokens, self.jobs)
