"""Bounded HTTP fetches: a size limit, a time limit and a clear reason when either trips."""

from __future__ import annotations

from typing import Optional

from attrs import frozen
from treq.client import HTTPClient
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError, ConnectionRefusedError, DNSLookupError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone, ResponseFailed
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH, IResponse

from herd.core.timers import with_timeout


class FetchError(Exception):
    """A fetch that did not give a usable body.

    ``str()`` completes a sentence whose subject is the URL: "<url> answered HTTP 404".
    """


@frozen
class Fetched:
    """A fetched body and the URL it finally came from (after redirects)."""

    url: str
    body: bytes


class _LimitedBody(Protocol):
    """Collect a response body, giving up (and dropping the connection) past ``limit``."""

    def __init__(self, limit: int, declared: object) -> None:
        self._limit = limit
        self._declared = declared
        self._chunks: list[bytes] = []
        self._size = 0
        self.done: Deferred[bytes] = Deferred(self._stop)

    def connectionMade(self) -> None:
        if self._declared is not UNKNOWN_LENGTH and self._declared > self._limit:  # type: ignore[operator]
            self._refuse(self._declared)  # type: ignore[arg-type]

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        self._size += len(data)
        if self._size > self._limit:
            self._refuse(self._size)
        else:
            self._chunks.append(data)

    def connectionLost(self, reason: Failure) -> None:
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self._chunks))
        else:
            self.done.errback(reason)

    def _refuse(self, size: int) -> None:
        self.done.errback(FetchError(f"is larger than the limit of {self._limit} bytes ({size}+)"))
        self._stop(self.done)

    def _stop(self, _: object) -> None:
        self._chunks.clear()
        if self.transport is not None:
            self.transport.stopProducing()


def read_body(response: IResponse, limit: int) -> Deferred[bytes]:
    """The whole body of ``response``, or a FetchError if it is over ``limit`` bytes."""
    reader = _LimitedBody(limit, response.length)
    response.deliverBody(reader)
    return reader.done


async def _fetch(client: HTTPClient, url: str, limit: int) -> Fetched:
    response = await client.get(url)
    if not 200 <= response.code < 300:
        read_body(response, 0).addErrback(lambda _: None)  # drop the body and the connection
        raise FetchError(f"answered HTTP {response.code}")
    body = await read_body(response, limit)
    request = getattr(response, "request", None)
    final: Optional[bytes] = getattr(request, "absoluteURI", None)
    return Fetched(final.decode("ascii", "replace") if final else url, body)


def fetch(
    client: HTTPClient, url: str, limit: int, timeout: float, clock: IReactorTime
) -> Deferred[Fetched]:
    """GET ``url`` (following redirects) within ``timeout`` seconds and ``limit`` bytes.

    Fails only with FetchError, whose message explains the problem.
    """
    d = Deferred.fromCoroutine(_fetch(client, url, limit))
    with_timeout(d, timeout, clock, reason=lambda t: FetchError(f"did not answer within {t:g} s"))
    d.addErrback(_explain)
    return d


def _explain(failure: Failure) -> Failure:
    if failure.check(FetchError):
        return failure
    if failure.check(DNSLookupError):
        raise FetchError("has a host name that could not be resolved")
    if failure.check(ConnectionRefusedError):
        raise FetchError("refused the connection")
    if failure.check(ConnectError):
        raise FetchError(f"could not be reached ({failure.getErrorMessage()})")
    if failure.check(ResponseFailed):
        reasons = "; ".join(r.getErrorMessage() for r in failure.value.reasons)
        raise FetchError(f"broke off the answer ({reasons or 'connection lost'})")
    raise FetchError(f"could not be fetched ({failure.type.__name__}: {failure.getErrorMessage()})")
