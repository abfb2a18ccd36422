"""The HTTP client herd's services use: treq over a persistent, quiet connection pool."""

from __future__ import annotations

from treq.client import HTTPClient
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory


class _QuietClientFactory(_HTTP11ClientFactory):
    """The pool's connection factory, without a log line per connection."""

    noisy = False


class QuietConnectionPool(HTTPConnectionPool):
    """An HTTPConnectionPool that does not log every connection it opens and closes."""

    _factory = _QuietClientFactory


def http_client(reactor: object, connect_timeout: float) -> HTTPClient:
    """A treq client with persistent connections, following the reactor's TLS defaults."""
    agent = Agent(reactor, connectTimeout=connect_timeout, pool=QuietConnectionPool(reactor))
    return HTTPClient(agent)
