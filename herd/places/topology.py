"""Who is in the herd, where each server listens, and who talks with whom.

A topology is a JSON file::

    {"host": "127.0.0.1",
     "servers": {"Goloman": 12100, "Hands": {"host": "10.0.0.2", "port": 12101}, ...},
     "links": [["Goloman", "Hands"], ...]}

A server is a port (on the default ``host``) or a host and a port; links are bidirectional.
Each server also listens on a *peer port*, where its neighbours' links connect, so that no
other process ever holds a socket on its client port (``lsof -ti:PORT | xargs kill`` then
stops that server alone): ``"peer_port"`` in the server's object, else its port plus the
topology's ``"peer_offset"`` (default 1000). ``DEFAULT`` is the specification's herd,
shipped with herd; ``find_topology`` picks the herd of a server by name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from attrs import frozen

from herd.core.jsonfile import read_json

DEFAULT = Path(__file__).with_name("topology.json")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
PEER_OFFSET = 1000
"""Default distance from a server's client port to its peer port."""
ENVIRONMENT = "HERD_PLACES_TOPOLOGY"
"""The variable naming the topology file used when the working directory has none."""


class TopologyError(ValueError):
    """A topology file that cannot be used; ``str()`` says why."""


@frozen
class Address:
    """Where one server listens."""

    host: str
    port: int
    peer_port: Optional[int] = None
    """Where neighbours connect (None: ``port`` + PEER_OFFSET)."""

    @property
    def peer(self) -> int:
        """The peer port."""
        return self.port + PEER_OFFSET if self.peer_port is None else self.peer_port


@frozen
class Topology:
    """The servers of a herd and the links between them."""

    servers: dict[str, Address]
    links: frozenset[frozenset[str]]

    def neighbours(self, name: str) -> list[str]:
        """The servers ``name`` talks with, in name order."""
        return sorted(other for link in self.links if name in link for other in link - {name})

    def address(self, name: str) -> Address:
        """Where ``name`` listens; TopologyError for a server not in the herd."""
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(sorted(self.servers))
            raise TopologyError(f"no server {name!r} in this herd (servers: {known})") from None


def load_topology(path: Path = DEFAULT) -> Topology:
    """Read and check a topology file."""
    return parse_topology(read_json(path, TopologyError), str(path))


def parse_topology(raw: Any, source: str = "topology") -> Topology:
    """Check the decoded JSON of a topology and build it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("servers"), dict):
        raise TopologyError(f"{source}: needs an object with a \"servers\" object")
    default_host = raw.get("host", "127.0.0.1")
    offset = raw.get("peer_offset", PEER_OFFSET)
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TopologyError(f"{source}: peer_offset must be an integer")
    servers = {}
    for name, where in raw["servers"].items():
        if not _NAME.match(name):
            raise TopologyError(f"{source}: bad server name {name!r}")
        peer: Any = None
        if isinstance(where, int):
            host, port = default_host, where
        elif isinstance(where, dict):
            host, port = where.get("host", default_host), where.get("port")
            peer = where.get("peer_port")
        else:
            raise TopologyError(f"{source}: server {name} needs a port or {{host, port}}")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise TopologyError(f"{source}: server {name} has no valid port")
        if not isinstance(host, str) or not host:
            raise TopologyError(f"{source}: server {name} has no valid host")
        if peer is None:
            peer = port + offset
        if not isinstance(peer, int) or isinstance(peer, bool) or not 1 <= peer <= 65535:
            raise TopologyError(f"{source}: server {name} has no valid peer port ({peer!r})")
        servers[name] = Address(host, port, peer)
    used: dict[tuple[str, int], str] = {}
    for name, address in servers.items():
        for port in (address.port, address.peer):
            other = used.setdefault((address.host, port), name)
            if other != name or address.port == address.peer:
                raise TopologyError(f"{source}: port {port} of {address.host} is used twice "
                                    f"({other} and {name}; a peer port is its client port + "
                                    f"peer_offset unless given)")
    links = set()
    for link in raw.get("links", []):
        if not (isinstance(link, list) and len(link) == 2 and all(n in servers for n in link)):
            raise TopologyError(f"{source}: bad link {link!r}: two known server names needed")
        if link[0] == link[1]:
            raise TopologyError(f"{source}: server {link[0]} cannot link to itself")
        links.add(frozenset(link))
    return Topology(servers, frozenset(links))


def find_topology(
    name: str,
    cwd: Optional[Path] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> tuple[Path, Topology]:
    """The herd of server ``name``, without a flag.

    Looked for, in this order: ``topology.json`` in the working directory,
    ``$HERD_PLACES_TOPOLOGY``, the packaged ``DEFAULT``; the first that names ``name`` wins.
    A file that cannot be read or parsed is an error (it was meant to be used); a ``name``
    in none of them is a TopologyError listing every name they know.
    """
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    here = (Path.cwd() if cwd is None else cwd) / "topology.json"
    if here.is_file():
        candidates.append(here)
    if env.get(ENVIRONMENT):
        candidates.append(Path(env[ENVIRONMENT]))
    candidates.append(DEFAULT)
    return pick_topology(name, candidates)


def pick_topology(name: str, candidates: Sequence[Path]) -> tuple[Path, Topology]:
    """The first of ``candidates`` that names ``name``, read; TopologyError if none does."""
    known: list[str] = []
    for path in candidates:
        topology = load_topology(path)
        if name in topology.servers:
            return path, topology
        known.append(f"{', '.join(sorted(topology.servers))} (in {path})")
    raise TopologyError(f"unknown server {name!r}; known servers: {'; '.join(known)}")
