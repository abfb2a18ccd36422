"""A places herd on loopback ports: each server started as ``places-server NAME`` (``bin/server.py``).

For end-to-end tests, the benchmark and the demo. ``talk`` is the graders' client: one
connection per command, written, half-closed, the whole reply read.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional, Sequence

import psutil
from attrs import Factory, frozen

from herd.testing.processes import LOOPBACK, ProcessGroup, command, free_port, tcp_accepts, wait_for
from herd.places.topology import DEFAULT, load_topology


def talk(port: int, data: bytes, timeout: float = 20, host: str = LOOPBACK) -> bytes:
    """Write ``data``, half-close, read until the server closes (at most ``timeout`` s)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def traffic(logs: Path, name: str) -> list[dict]:
    """The events of ``name``'s traffic log so far."""
    path = logs / f"{name}.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def links_up(logs: Path, name: str) -> set[str]:
    """Neighbours ``name`` has an outgoing link to, according to its traffic log."""
    up: set[str] = set()
    for event in traffic(logs, name):
        if event.get("direction") == "outgoing":
            (up.add if event["event"] == "peer-up" else up.discard)(event["peer"])
    return up


def write_topology(path: Path, names: list[str], links: list[list[str]]) -> dict[str, int]:
    """A topology file with two free loopback ports per server (client, peer); returns the
    client ports."""
    ports = {name: free_port() for name in names}
    servers = {name: {"port": port, "peer_port": free_port()} for name, port in ports.items()}
    path.write_text(json.dumps({"host": LOOPBACK, "servers": servers, "links": links}))
    return ports


@frozen
class Herd:
    """A running herd: its ports, topology file, traffic logs and processes."""

    ports: dict[str, int]
    topology: Path
    logs: Path
    group: ProcessGroup
    server: list[str] = Factory(lambda: command("places-server"))  # how to run ``server.py``

    def start(self, name: str, *options: str) -> None:
        """Start (or restart) server ``name``; returns once it listens."""
        self.group.start(name, [*self.server, name, "--topology",
                                str(self.topology), "--log", str(self.logs / f"{name}.log"),
                                "--max-retry", "1", *options])
        wait_for(lambda: tcp_accepts(self.ports[name]), 20, f"{name} to listen")

    def whatsat(self, name: str, client: str, radius: int = 10, bound: int = 3) -> bytes:
        """A WHATSAT at ``name``, on its own connection."""
        return talk(self.ports[name], f"WHATSAT {client} {radius} {bound}".encode())

    def wait_links(self, timeout: float = 30) -> None:
        """Wait until every server has a link up to each of its neighbours."""
        herd = load_topology(self.topology)
        wanted = {name: set(herd.neighbours(name)) for name in herd.servers}
        wait_for(lambda: all(links_up(self.logs, n) == want for n, want in wanted.items()),
                 timeout, "every link of the herd to come up")


def start_herd(group: ProcessGroup, workdir: Path, *options: str,
               server: Optional[Sequence[str]] = None) -> Herd:
    """The specification's herd, on free loopback ports, all links up.

    ``server``: how to run a server (default: the installed ``places-server``; the
    end-to-end tests pass the checkout's ``bin/server.py``, as the specification runs it).
    """
    spec = load_topology(DEFAULT)
    links = sorted(sorted(link) for link in spec.links)
    topology = workdir / "topology.json"
    ports = write_topology(topology, sorted(spec.servers), links)
    herd = Herd(ports, topology, workdir / "logs", group, *([list(server)] if server else []))
    for name in sorted(ports):
        herd.start(name, *options)
    herd.wait_links()
    return herd


GRADER_HERDS = {"juzang": DEFAULT.with_name("herd-juzang.json"), "hill": DEFAULT.with_name("herd-hill.json")}
"""The two herds of the course's graders that herd ships as examples."""


class NohupHerd:
    """Servers started and stopped exactly as the course's graders do, in ``workdir``.

    ``start(name)`` runs ``nohup python3 <server.py> NAME &`` in a shell whose output goes to
    ``workdir/nohup.out``; ``kill(port)`` runs ``lsof -ti:PORT | xargs kill``. The servers
    outlive the shell (as with the graders), so ``stop_all`` (also run on leaving a ``with``
    block) ends every one still alive, by the pid the shell wrote: SIGTERM, then SIGKILL.
    """

    def __init__(self, workdir: Path, server_py: Path, env: Optional[dict[str, str]] = None) -> None:
        self.workdir = workdir
        self.server_py = server_py
        self.env = env
        self.pids: dict[str, int] = {}

    def __enter__(self) -> "NohupHerd":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def start(self, name: str) -> int:
        """``nohup python3 server.py NAME &``; returns the server's pid."""
        pidfile = self.workdir / f".{name}.pid"
        line = f"nohup python3 {shlex.quote(str(self.server_py))} {shlex.quote(name)} & echo $! > {shlex.quote(str(pidfile))}"
        with open(self.workdir / "nohup.out", "ab") as out:
            subprocess.run(["sh", "-c", line], cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, env=self.env, check=True, timeout=10)
        self.pids[name] = int(pidfile.read_text())
        return self.pids[name]

    def alive(self, name: str) -> bool:
        """Whether server ``name`` still runs."""
        return _ours(self.pids.get(name), self.server_py) is not None

    def kill(self, port: int) -> None:
        """``lsof -ti:PORT | xargs kill``, as the graders stop a server."""
        subprocess.run(["sh", "-c", f"lsof -ti:{port} | xargs kill"], cwd=self.workdir,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)

    def stop_all(self) -> None:
        """End every server started here that still runs."""
        procs = [p for p in (_ours(pid, self.server_py) for pid in self.pids.values()) if p is not None]
        for proc in procs:
            proc.terminate()
        _, left = psutil.wait_procs(procs, timeout=5)
        for proc in left:
            proc.kill()
        psutil.wait_procs(left, timeout=5)


def _ours(pid: Optional[int], server_py: Path) -> Optional[psutil.Process]:
    """The process ``pid`` if it still runs ``server_py`` (not a recycled pid)."""
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        running = proc.status() != psutil.STATUS_ZOMBIE and any("herd.places.cli.server" in a or
                                                               str(server_py) in a for a in proc.cmdline())
    except psutil.Error:
        return None
    return proc if running else None


def lsof_pids(port: int) -> set[int]:
    """What ``lsof -ti:PORT`` lists: every process with a socket on ``port``."""
    out = subprocess.run(["lsof", "-ti:%d" % port], capture_output=True, timeout=10).stdout
    return {int(line) for line in out.split()}
