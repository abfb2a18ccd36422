"""The cluster file: every component's name and address.

A JSON object (the default, ``herd/replication/cluster.json``, ships with herd)::

    {"host": "127.0.0.1",            # default host of every address below
     "rm": 18700,                     # the replication manager's port (GFD and clients)
     "gfd": 18701,                    # the global fault detector's port (LFDs)
     "replicas": {"S1": {"port": 18711, "lfd": "LFD1"}, ...},   # each replica's port
                                      # (clients, its LFD, other replicas) and its LFD
     "clients": ["C1", "C2", "C3"]}   # the clients allowed to send requests

Any port may instead be ``{"host": "...", "port": N}``. The GFD is named ``GFD`` and the RM
``RM``. A message from a name that is not in the file is refused by every component.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from attrs import frozen

from herd.core.jsonfile import read_json

DEFAULT = Path(__file__).with_name("cluster.json")
GFD = "GFD"
RM = "RM"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}\Z")
_RESERVED = {"primary", "backup", "none", "active", "passive", GFD, RM}


class ClusterError(ValueError):
    """A cluster file that cannot be used; ``str()`` says why."""


@frozen
class Address:
    host: str
    port: int


@frozen
class Cluster:
    """Who is in the cluster and where each listens."""

    rm: Address
    gfd: Address
    replicas: dict[str, Address]
    lfd_of: dict[str, str]  # replica -> its LFD
    clients: tuple[str, ...]

    @property
    def lfds(self) -> dict[str, str]:
        """LFD -> the replica it watches."""
        return {lfd: replica for replica, lfd in self.lfd_of.items()}

    def kind(self, name: str) -> Optional[str]:
        """``replica``, ``lfd``, ``gfd``, ``rm``, ``client`` or None for a stranger."""
        if name in self.replicas:
            return "replica"
        if name in self.lfds:
            return "lfd"
        if name == GFD:
            return "gfd"
        if name == RM:
            return "rm"
        if name in self.clients:
            return "client"
        return None


def _address(raw: Any, host: str, what: str) -> Address:
    if isinstance(raw, dict):
        host, raw = raw.get("host", host), raw.get("port")
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= 65535:
        raise ClusterError(f"{what}: no valid port")
    if not isinstance(host, str) or not host:
        raise ClusterError(f"{what}: no valid host")
    return Address(host, raw)


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name in _RESERVED:
        raise ClusterError(f"bad {what} name {name!r}")
    return name


def parse_cluster(raw: Any, source: str = "cluster") -> Cluster:
    """Check the decoded JSON of a cluster file and build it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("replicas"), dict) or not raw["replicas"]:
        raise ClusterError(f"{source}: needs an object with a non-empty \"replicas\" object")
    host = raw.get("host", "127.0.0.1")
    replicas, lfd_of = {}, {}
    for name, entry in raw["replicas"].items():
        _check_name(name, "replica")
        if not isinstance(entry, dict):
            raise ClusterError(f"{source}: replica {name} needs {{\"port\": N, \"lfd\": NAME}}")
        replicas[name] = _address(entry, host, f"{source}: replica {name}")
        lfd_of[name] = _check_name(entry.get("lfd", "LFD" + name.lstrip("S")), "LFD")
    clients = raw.get("clients", [])
    if not isinstance(clients, list):
        raise ClusterError(f"{source}: \"clients\" must be a list of names")
    clients = tuple(_check_name(c, "client") for c in clients)
    names = list(replicas) + list(lfd_of.values()) + list(clients)
    if len(set(names)) != len(names):
        raise ClusterError(f"{source}: a name is used twice")
    return Cluster(_address(raw.get("rm"), host, f"{source}: rm"),
                   _address(raw.get("gfd"), host, f"{source}: gfd"),
                   replicas, lfd_of, clients)


def load_cluster(path: Path = DEFAULT) -> Cluster:
    """Read and check a cluster file."""
    return parse_cluster(read_json(path, ClusterError), str(path))


def write_cluster(path: Path, ports: dict[str, int], host: str = "127.0.0.1",
                  replicas: tuple[str, ...] = ("S1", "S2", "S3"),
                  clients: tuple[str, ...] = ("C1", "C2", "C3")) -> None:
    """Write a cluster file with the given ports (keys: ``rm``, ``gfd``, replica names)."""
    raw = {"host": host, "rm": ports["rm"], "gfd": ports["gfd"],
           "replicas": {s: {"port": ports[s], "lfd": "LFD" + s[1:]} for s in replicas},
           "clients": list(clients)}
    Path(path).write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
