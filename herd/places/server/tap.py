"""``twistd places --name NAME``: one server of the places herd, wired to the reactor.

Imports only what serving needs: the places provider (treq, the GeoNames data) is made on
the first WHATSAT, off the reactor thread (``herd.places.server.lazy``), so that a server
listens a few tenths of a second after it starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Optional

from twisted.application import internet
from twisted.application.service import IService, MultiService, Service
from twisted.logger import ILogObserver, Logger, globalLogPublisher
from twisted.python import usage

from herd.core.options import positive_float
from herd.places.server.peers import Neighbours
from herd.places.server.connection import PlacesFactory
from herd.places.server.lazy import (
    LazyProvider,
    google_places,
    key_from_environment,
    offline_places,
    reactor_thread_pool,
)
from herd.places.server.service import PlacesServer
from herd.places.topology import DEFAULT, Topology, TopologyError, load_topology
from herd.places.server.traffic import TrafficFile, TrafficLog

GOOGLE = "https://maps.googleapis.com"
log = Logger()


class Options(usage.Options):
    """Command line of ``twistd places``."""

    synopsis = "--name NAME [--topology FILE] [options]"
    longdesc = (
        "Run server NAME of the places herd: answer IAMAT and WHATSAT on its TCP port, "
        "flood client locations to its neighbours. Ports and links come from the topology "
        "file (default: the specification's five servers). Without a Google Places key "
        "(--places-key or $GOOGLE_PLACES_API_KEY), places come from offline GeoNames data."
    )
    optParameters = [
        ["name", "n", None, "Server name (Goloman, Hands, Holiday, Welsh, Wilkes by default)."],
        ["topology", "t", str(DEFAULT), "Topology file (JSON)."],
        ["interface", "i", None, "Address to listen on (default: the server's topology host)."],
        ["log", "l", None, "Traffic log file, JSON lines (default: logs/places/NAME.log)."],
        ["places-key", None, None, "Google Places API key (default: $GOOGLE_PLACES_API_KEY)."],
        ["places-url", None, GOOGLE, "Base URL of the Places API (a fake one for tests)."],
        ["places-timeout", None, 10.0, "Seconds to wait for the Places API.", positive_float],
        ["offline-population", None, 5000, "Offline data: smallest town listed "
         "(500, 1000, 5000 or 15000 inhabitants; smaller loads slower).", int],
        ["max-retry", None, 10.0, "Longest wait between two reconnections to a neighbour.", positive_float],
        ["idle-timeout", None, 120.0, "Seconds before an idle client connection is closed.", positive_float],
    ]

    def postOptions(self) -> None:
        if not self["name"]:
            raise usage.UsageError("--name is required")
        try:
            topology = load_topology(Path(self["topology"]))
            topology.address(self["name"])
        except TopologyError as error:
            raise usage.UsageError(str(error)) from None
        self["herd"] = topology
        if self["offline-population"] not in (500, 1000, 5000, 15000):
            raise usage.UsageError("--offline-population must be 500, 1000, 5000 or 15000")
        if self["log"] is None:
            self["log"] = str(Path("logs") / "places" / f"{self['name']}.log")

    def __repr__(self) -> str:  # never show the key, whatever logs the options
        return f"<places Options name={self['name']!r}>"


class TrafficLogService(Service):
    """Write the traffic events to their file while the server runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: Optional[IO[str]] = None
        self._observer: Optional[ILogObserver] = None

    def startService(self) -> None:
        super().startService()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path, "a", encoding="utf-8")
        self._observer = TrafficFile(self._stream)
        globalLogPublisher.addObserver(self._observer)

    def stopService(self) -> None:
        super().stopService()
        if self._observer is not None:
            globalLogPublisher.removeObserver(self._observer)
        if self._stream is not None:
            self._stream.close()


def makeService(options: Options) -> IService:
    """The server's two ports, its links to its neighbours and its traffic log.

    Clients connect to the server's port; neighbours to its peer port (see
    ``herd.places.topology``). Both ports take the same commands.
    """
    from twisted.internet import reactor

    name: str = options["name"]
    herd: Topology = options["herd"]
    address = herd.address(name)
    traffic = TrafficLog(name)
    key = options["places-key"] or key_from_environment()
    if key:
        recipe = google_places(reactor, key, options["places-url"], options["places-timeout"])
    else:
        recipe = offline_places(options["offline-population"])
    provider = LazyProvider("google" if key else "offline", recipe, reactor_thread_pool(reactor))
    log.info("{name}: places from {provider}, loaded on the first WHATSAT", name=name,
             provider=provider.name)
    neighbours = Neighbours(
        name,
        {other: herd.address(other) for other in herd.neighbours(name)},
        reactor,
        lambda: server.table.all(),
        traffic,
        max_retry_delay=options["max-retry"],
    )
    server = PlacesServer(name, reactor, provider, neighbours.flood)
    top = MultiService()
    TrafficLogService(Path(options["log"])).setServiceParent(top)
    factory = PlacesFactory(server, traffic, reactor, idle_timeout=options["idle-timeout"],
                            on_peer=neighbours.hurry)
    interface = options["interface"] if options["interface"] is not None else address.host
    internet.TCPServer(address.port, factory, interface=interface).setServiceParent(top)
    internet.TCPServer(address.peer, factory, interface=interface).setServiceParent(top)
    neighbours.setServiceParent(top)
    return top
