"""Outgoing links kept up: reconnect with backoff, tell the owner when a link goes up or down.

What places' ``peers.py`` does for its neighbours, for any system: a ``Link`` is a service
around ``ClientService`` (exponential backoff between attempts, on the injected reactor);
the protocol it builds calls ``link.up(self)`` from ``connectionMade`` and
``link.down(self, reason)`` from ``connectionLost``, and the link calls the owner's
``on_up(protocol)`` / ``on_down(reason)``. ``Link.protocol`` is the connected protocol or
None, so the owner sends only over a link that is up.
"""

from __future__ import annotations

from typing import Callable, Generic, Optional, TypeVar

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import Service
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IAddress, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

P = TypeVar("P", bound=Protocol)


class _LinkFactory(Factory):
    noisy = False

    def __init__(self, build: Callable[[], Protocol]) -> None:
        self._build = build

    def buildProtocol(self, addr: IAddress) -> Protocol:
        protocol = self._build()
        protocol.factory = self
        return protocol


class Link(Service, Generic[P]):
    """One outgoing connection to ``name``, reconnected whenever it drops."""

    def __init__(
        self,
        reactor: object,
        name: str,
        host: str,
        port: int,
        build: Callable[["Link[P]"], P],
        on_up: Callable[[P], None] = lambda protocol: None,
        on_down: Callable[[Failure], None] = lambda reason: None,
        initial_delay: float = 0.1,
        max_delay: float = 2.0,
        endpoint: Optional[IStreamClientEndpoint] = None,
    ) -> None:
        self.name = name
        self.protocol: Optional[P] = None
        self._on_up = on_up
        self._on_down = on_down
        if endpoint is None:
            endpoint = HostnameEndpoint(reactor, host, port, timeout=5)
        self._service = ClientService(
            endpoint,
            _LinkFactory(lambda: build(self)),
            retryPolicy=backoffPolicy(initialDelay=initial_delay, maxDelay=max_delay, factor=1.5),
            clock=reactor,
        )

    def startService(self) -> None:
        super().startService()
        self._service.startService()

    def stopService(self):  # type: ignore[no-untyped-def]
        super().stopService()
        return self._service.stopService()

    def up(self, protocol: P) -> None:
        """Called by the protocol once connected."""
        self.protocol = protocol
        self._on_up(protocol)

    def down(self, protocol: P, reason: Failure) -> None:
        """Called by the protocol when its connection is lost; ClientService reconnects."""
        if self.protocol is protocol:
            self.protocol = None
            self._on_down(reason)
