"""Who is in the herd, where each server listens, and who talks with whom.

A topology is a JSON file::

    {"host": "127.0.0.1",
     "servers": {"Goloman": 12100, "Hands": {"host": "10.0.0.2", "port": 12101}, ...},
     "links": [["Goloman", "Hands"], ...]}

A server is a port (on the default ``host``) or a host and a port; links are bidirectional.
``DEFAULT`` is the specification's herd, shipped with herd.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from attrs import frozen

DEFAULT = Path(__file__).with_name("topology.json")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


class TopologyError(ValueError):
    """A topology file that cannot be used; ``str()`` says why."""


@frozen
class Address:
    """Where one server listens."""

    host: str
    port: int


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
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise TopologyError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise TopologyError(f"{path} is not valid JSON: {error}") from None
    return parse_topology(raw, str(path))


def parse_topology(raw: Any, source: str = "topology") -> Topology:
    """Check the decoded JSON of a topology and build it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("servers"), dict):
        raise TopologyError(f"{source}: needs an object with a \"servers\" object")
    default_host = raw.get("host", "127.0.0.1")
    servers = {}
    for name, where in raw["servers"].items():
        if not _NAME.match(name):
            raise TopologyError(f"{source}: bad server name {name!r}")
        if isinstance(where, int):
            host, port = default_host, where
        elif isinstance(where, dict):
            host, port = where.get("host", default_host), where.get("port")
        else:
            raise TopologyError(f"{source}: server {name} needs a port or {{host, port}}")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise TopologyError(f"{source}: server {name} has no valid port")
        if not isinstance(host, str) or not host:
            raise TopologyError(f"{source}: server {name} has no valid host")
        servers[name] = Address(host, port)
    links = set()
    for link in raw.get("links", []):
        if not (isinstance(link, list) and len(link) == 2 and all(n in servers for n in link)):
            raise TopologyError(f"{source}: bad link {link!r}: two known server names needed")
        if link[0] == link[1]:
            raise TopologyError(f"{source}: server {link[0]} cannot link to itself")
        links.add(frozenset(link))
    return Topology(servers, frozenset(links))
