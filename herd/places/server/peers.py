"""A server's links to its neighbours: kept up with ClientService, used to flood.

Each server opens its own connection to each neighbour's *peer port* (never its client
port: ``lsof -ti:CLIENT_PORT | xargs kill`` must find that server alone), so every link is
two TCP connections, one each way, and sends ``PEER <its name>``, then every location it knows,
then each new location as an AT line. A neighbour that goes down is logged as dropped and
reconnected with exponential backoff (``ClientService``); it misses the floods sent while
it was away, but gets the whole table again when the link comes back, so a restarted
server catches up without anyone restarting.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IConnector, IStreamClientEndpoint
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from herd.places.topology import Address
from herd.places.server.traffic import TrafficLog
from herd.protocols.places import At


class _Connecting(ClientFactory):
    """Fire ``connected`` with the protocol of a TCP connection attempt, or its failure."""

    noisy = False

    def __init__(self, factory: Factory, connected: "Deferred[Protocol]") -> None:
        self._factory = factory
        self._connected = connected

    def buildProtocol(self, addr: IAddress) -> Optional[Protocol]:
        protocol = self._factory.buildProtocol(addr)
        if not self._connected.called:
            self._connected.callback(protocol)
        return protocol

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if not self._connected.called:
            self._connected.errback(reason)


@implementer(IStreamClientEndpoint)
class TCPEndpoint:
    """``reactor.connectTCP`` as a client endpoint, for ``ClientService``.

    ``twisted.internet.endpoints`` would do, but importing it imports Twisted's TLS
    verification stack (a tenth of a second here), which a server must not wait for
    before it listens.
    """

    def __init__(self, reactor: Any, host: str, port: int, timeout: float = 5) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout

    def connect(self, factory: Factory) -> "Deferred[Protocol]":
        connector: list[IConnector] = []
        connected: Deferred[Protocol] = Deferred(lambda _: connector[0].stopConnecting())
        connector.append(self._reactor.connectTCP(
            self._host, self._port, _Connecting(factory, connected), timeout=self._timeout))
        return connected


class PeerLink(Protocol):
    """Our end of the connection to one neighbour."""

    def __init__(self, neighbours: "Neighbours", name: str) -> None:
        self._neighbours = neighbours
        self.name = name

    def connectionMade(self) -> None:
        self._neighbours.link_up(self)

    def dataReceived(self, data: bytes) -> None:
        pass  # a neighbour never answers on this connection

    def connectionLost(self, reason: Failure) -> None:
        self._neighbours.link_down(self, reason)

    def send(self, line: bytes) -> None:
        self.transport.write(line)


class _LinkFactory(Factory):
    noisy = False

    def __init__(self, neighbours: "Neighbours", name: str) -> None:
        self._neighbours = neighbours
        self._name = name

    def buildProtocol(self, addr: IAddress) -> PeerLink:
        return PeerLink(self._neighbours, self._name)


class Neighbours(MultiService):
    """Keep a link to every neighbour; flood locations over the links that are up."""

    def __init__(
        self,
        me: str,
        addresses: dict[str, Address],
        reactor: object,
        known: Callable[[], list[At]],
        traffic: TrafficLog,
        max_retry_delay: float = 10.0,
    ) -> None:
        super().__init__()
        self._hello = b"PEER " + me.encode("ascii") + b"\n"
        self._known = known
        self._traffic = traffic
        self.links: dict[str, PeerLink] = {}
        self._services: dict[str, ClientService] = {}
        self._hurrying: set[str] = set()
        for name, address in sorted(addresses.items()):
            endpoint = TCPEndpoint(reactor, address.host, address.peer, timeout=5)
            self._services[name] = ClientService(
                endpoint,
                _LinkFactory(self, name),
                retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=max_retry_delay),
                clock=reactor,
            )
            self._services[name].setServiceParent(self)

    def hurry(self, name: str) -> None:
        """``name`` just connected to us, so it is up: if our link to it is down, try now.

        Without this, a server started a while after its neighbour would wait for that
        neighbour's next retry (up to ``max_retry_delay``) before getting its floods. The
        link's ClientService is restarted, which connects at once.
        """
        service = self._services.get(name)
        if service is None or name in self.links or name in self._hurrying or not self.running:
            return
        self._hurrying.add(name)

        def restart(_: object) -> None:
            self._hurrying.discard(name)
            if self.running and not service.running:
                service.startService()

        service.stopService().addBoth(restart)

    def flood(self, at: At, exclude: Optional[str]) -> None:
        """Send ``at`` to every neighbour that is up, except ``exclude``."""
        line = at.to_line() + b"\n"
        for name, link in list(self.links.items()):
            if name != exclude:
                link.send(line)
                self._traffic.flooded_out(name, line)

    def link_up(self, link: PeerLink) -> None:
        """A link came up: greet the neighbour and tell it everything we know."""
        self.links[link.name] = link
        self._traffic.peer_up(link.name, "outgoing")
        link.send(self._hello)
        for at in self._known():
            line = at.to_line() + b"\n"
            link.send(line)
            self._traffic.flooded_out(link.name, line)

    def link_down(self, link: PeerLink, reason: Failure) -> None:
        """A link dropped; ClientService reconnects it."""
        if self.links.get(link.name) is link:
            del self.links[link.name]
        self._traffic.peer_down(link.name, "outgoing", reason.getErrorMessage())
