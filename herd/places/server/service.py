"""One server of the herd: what it answers, what it stores and what it floods.

This module decides; it does no I/O. Lines come in already split (``herd.places.server.connection``),
locations go out through ``flood`` (``herd.places.server.peers`` in production), places come from
a ``PlacesProvider`` (``herd.places.server.provider``).

The flood rules: per client only the newest location is kept, by the client's own time
stamp; a location is flooded on (to every neighbour but the one it came from) only when it
is newer than the stored one. An older or equal location is neither stored nor flooded, so
every flood ends, whatever the graph's cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from herd.protocols.places import (
    At,
    IAmAt,
    WhatsAt,
    at_for,
    invalid_reply,
    now_decimal,
    whatsat_reply,
)

if TYPE_CHECKING:
    from herd.places.server.provider import PlacesProvider

Flood = Callable[[At, Optional[str]], None]
"""Send a location to every neighbour except the named one (None: to all)."""


class LocationTable:
    """The newest known location of each client."""

    def __init__(self) -> None:
        self._latest: dict[bytes, At] = {}

    def __len__(self) -> int:
        return len(self._latest)

    def get(self, client: bytes) -> Optional[At]:
        """The stored location of ``client``, if any."""
        return self._latest.get(client)

    def update(self, at: At) -> bool:
        """Keep ``at`` if it is newer than what is stored; say whether it was kept."""
        current = self._latest.get(at.client)
        if current is not None and at.timestamp <= current.timestamp:
            return False
        self._latest[at.client] = at
        return True

    def all(self) -> list[At]:
        """Every stored location."""
        return list(self._latest.values())


class PlacesServer:
    """Answer IAMAT and WHATSAT, learn and flood locations."""

    log = Logger()

    def __init__(
        self, name: str, clock: IReactorTime, provider: "PlacesProvider", flood: Flood
    ) -> None:
        self.name = name
        self._name = name.encode("ascii")
        self._clock = clock
        self._provider = provider
        self._flood = flood
        self.table = LocationTable()

    def iamat(self, message: IAmAt) -> bytes:
        """Store (if newer) and flood the client's location; reply with its AT line.

        A stale IAMAT (not newer than the stored location) is still answered with the AT
        line of what it said, but changes nothing and is not flooded.
        """
        at = at_for(self._name, now_decimal(self._clock.seconds()), message)
        if self.table.update(at):
            self._flood(at, None)
        else:
            self.log.info(
                "stale IAMAT for {client}: a newer location is stored",
                client=at.client.decode("utf-8", "backslashreplace"),
            )
        return at.to_line() + b"\n"

    def whatsat(self, message: WhatsAt, line: bytes) -> Deferred[bytes]:
        """The stored AT line and the places near it; ``? <line>`` for an unknown client."""
        at = self.table.get(message.client)
        if at is None:
            return succeed(invalid_reply(line))
        radius_m = float(message.radius_km) * 1000
        d = self._provider.nearby(at.location.latitude, at.location.longitude, radius_m)
        d.addErrback(self._provider_bug)
        return d.addCallback(lambda response: whatsat_reply(at, response, message.bound))

    def _provider_bug(self, failure: Failure) -> dict[str, object]:
        # Providers turn their errors into Google-shaped answers; this is for their bugs.
        self.log.failure("the places provider failed", failure)
        return {
            "html_attributions": [],
            "results": [],
            "status": "UNKNOWN_ERROR",
            "error_message": "internal error in the places server, see its log",
        }

    def learned(self, at: At, peer: str) -> bool:
        """A neighbour flooded ``at``: keep it and pass it on if it is news."""
        if not self.table.update(at):
            return False
        self._flood(at, peer)
        return True

