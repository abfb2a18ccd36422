"""The orchestrator as a worker's TCP client: send one CHECK line, wait for one result line.

With a shared secret, each CHECK carries a fresh token (``herd.core.tokens``), so that only
the orchestrator can drive a worker.
"""

from __future__ import annotations

from typing import Optional

from attrs import evolve
from twisted.internet.defer import Deferred
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import IAddress, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from herd.core.timers import with_timeout
from herd.core.tokens import Tokens
from herd.protocols.scan import MAX_REPLY, CheckRequest, ProtocolError
from herd.protocols.scan_replies import Result, parse_result


class WorkerProtocolError(Exception):
    """The worker closed the connection without a result, or answered nonsense."""


class CheckClient(Protocol):
    """Send ``request`` once connected; ``result`` fires with the worker's parsed answer.

    Cancelling ``result`` aborts the connection.
    """

    def __init__(self, request: CheckRequest) -> None:
        self._request = request
        self._buffer = b""
        self.result: Deferred[Result] = Deferred(self._cancel)

    def connectionMade(self) -> None:
        self.transport.write(self._request.to_line())

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        line, newline, _ = self._buffer.partition(b"\n")
        if newline:
            self._answer(line)
            self.transport.loseConnection()
        elif len(self._buffer) > MAX_REPLY:
            self._fail(WorkerProtocolError(f"answer longer than {MAX_REPLY} bytes"))
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure) -> None:
        if self.result.called:
            return
        if self._buffer.strip():
            self._answer(self._buffer)  # an answer without its newline, then close
        else:
            self._fail(WorkerProtocolError("worker closed the connection without answering"))

    def _answer(self, line: bytes) -> None:
        if self.result.called:
            return
        try:
            result = parse_result(line)
        except ProtocolError as error:
            self._fail(WorkerProtocolError(str(error)))
        else:
            self.result.callback(result)

    def _fail(self, error: Exception) -> None:
        if not self.result.called:
            self.result.errback(error)

    def _cancel(self, _: Deferred[Result]) -> None:
        if self.transport is not None:
            self.transport.abortConnection()


class _OneClient(Factory):
    """Hands out one prepared protocol, without logging each connection."""

    noisy = False

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: IAddress) -> Protocol:
        return self._protocol


def send_check(
    endpoint: IStreamClientEndpoint,
    request: CheckRequest,
    timeout: float,
    clock: IReactorTime,
    tokens: Optional[Tokens] = None,
) -> Deferred[Result]:
    """Connect through ``endpoint``, run ``request`` (signed with ``tokens`` if given);
    ``TimeoutError`` after ``timeout`` seconds, the connection then aborted."""
    if tokens is not None:
        request = evolve(request, token=tokens.make(request.signed()))
    client = CheckClient(request)
    d: Deferred[Result] = endpoint.connect(_OneClient(client))
    d.addCallback(lambda _: client.result)
    with_timeout(d, timeout, clock, "answer from the worker")
    return d


def check_on_worker(
    reactor: IReactorTime,
    host: str,
    port: int,
    request: CheckRequest,
    timeout: float = 60.0,
    connect_timeout: float = 5.0,
    tokens: Optional[Tokens] = None,
) -> Deferred[Result]:
    """Run ``request`` on the worker at ``host``:``port`` over TCP. An IP address is
    connected to directly; a name is resolved first (``HostnameEndpoint``, which resolves
    in the reactor's thread pool: a trip to a thread and back for every job)."""
    endpoint: IStreamClientEndpoint
    if isIPAddress(host):
        endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=connect_timeout)
    elif isIPv6Address(host):
        endpoint = TCP6ClientEndpoint(reactor, host, port, timeout=connect_timeout)
    else:
        endpoint = HostnameEndpoint(reactor, host, port, timeout=connect_timeout)
    return send_check(endpoint, request, timeout, reactor, tokens).addErrback(plain_connect_error)


def plain_connect_error(failure: Failure) -> Failure:
    """Twisted reports a connection closed while it was being made as a ``ConnectError``
    holding the ``Failure`` itself, whose text is a traceback: keep its message only."""
    error = failure.value
    if isinstance(error, ConnectError) and error.args and isinstance(error.args[0], Failure):
        return Failure(ConnectError(osError=error.osError, string=error.args[0].getErrorMessage()))
    return failure

