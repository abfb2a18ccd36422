"""``places-up``: start every server of the places herd, stop them all on Ctrl-C.

Each server runs as ``twistd -n --pidfile= places --name NAME`` (the twistd beside this
Python, so it works from an installed wheel and from any directory), started and stopped
by ``herd.core.launcher``; it writes its twistd output to ``<logs>/NAME.out`` and its
traffic log to ``<logs>/NAME.log``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from twisted.internet import defer

from herd.core.launcher import Child, Launcher, first_to_end, run_launcher, tcp_accepts, twistd_command, wait_until
from herd.places.topology import DEFAULT, Topology, TopologyError, load_topology


def server_command(name: str, topology: Path, log: Path) -> list[str]:
    """The command line of server ``name`` (the same as ``bin/server.py NAME ...``)."""
    return [*twistd_command(), "-n", "--pidfile=", "places", "--topology", str(topology),
            "--log", str(log), "--name", name]


async def up(reactor: Any, launcher: Launcher, herd: Topology, topology: Path, logs: Path,
             wait: float) -> int:
    """Start the servers, report each once it listens, then wait for one to exit."""
    children: dict[str, Child] = {}
    for name in sorted(herd.servers):
        children[name] = launcher.spawn(name, server_command(name, topology, logs / f"{name}.log"))
    try:
        for name, address in sorted(herd.servers.items()):
            child = children[name]

            async def listening(child: Child = child, address: Any = address) -> bool:
                if child.over:
                    raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
                return await tcp_accepts(reactor, address.host, address.port)

            await wait_until(reactor, listening, wait, f"{name} to listen on {address.host}:{address.port}")
            neighbours = ", ".join(herd.neighbours(name)) or "none"
            print(f"{name:10} {address.host}:{address.port}  talks with {neighbours}", flush=True)
    except (TimeoutError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"the herd is up; logs in {logs}; Ctrl-C stops it", flush=True)
    await first_to_end(list(children.values()))
    dead = [name for name, child in children.items() if child.over]
    print(f"error: {', '.join(dead)} exited; see {logs}", file=sys.stderr)
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Start the herd, report where each server listens, run until told to stop."""
    p = argparse.ArgumentParser(prog="places-up", description="Run the whole places herd.")
    p.add_argument("--topology", type=Path, default=DEFAULT, help="topology file (JSON)")
    p.add_argument("--logs", type=Path, default=Path("logs/places"), help="log directory")
    p.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the servers")
    args = p.parse_args(argv)
    try:
        herd = load_topology(args.topology)
    except TopologyError as error:
        p.error(str(error))
    logs = args.logs.resolve()
    logs.mkdir(parents=True, exist_ok=True)

    running: list[Launcher] = []

    def on_signal(name: str) -> defer.Deferred[int]:
        stopping = running[0].stop_all()
        stopping.addCallback(lambda _: print(f"{name}: the herd is stopped", flush=True))
        return stopping.addCallback(lambda _: 0)

    def begin(reactor: Any, launcher: Launcher) -> defer.Deferred[int]:
        running.append(launcher)
        return defer.Deferred.fromCoroutine(up(reactor, launcher, herd, args.topology.resolve(), logs, args.wait))

    return run_launcher(begin, logs, on_signal=on_signal)


if __name__ == "__main__":
    sys.exit(main())
