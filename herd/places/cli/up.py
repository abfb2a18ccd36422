"""``places-up``: start every server of the places herd, stop them all on Ctrl-C.

Each server runs as ``bin/server.py NAME`` (``twistd -n places --name NAME``), writes its
twistd output to ``<logs>/NAME.out`` and its traffic log to ``<logs>/NAME.log``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from herd.core.processes import BIN, ProcessGroup, tcp_accepts, wait_for
from herd.places.topology import DEFAULT, TopologyError, load_topology


class Stop(Exception):
    """A signal asked for the herd to stop."""


def _stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


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
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    logs = args.logs.resolve()
    try:
        with ProcessGroup(logs) as group:
            for name in sorted(herd.servers):
                group.start(name, [sys.executable, str(BIN / "server.py"), name,
                                   "--topology", str(args.topology.resolve()),
                                   "--log", str(logs / f"{name}.log")])
            for name, address in sorted(herd.servers.items()):
                wait_for(lambda: tcp_accepts(address.port, address.host) or _dead(group, name),
                         args.wait, f"{name} to listen on {address.host}:{address.port}")
                neighbours = ", ".join(herd.neighbours(name)) or "none"
                print(f"{name:10} {address.host}:{address.port}  talks with {neighbours}", flush=True)
            print(f"the herd is up; logs in {logs}; Ctrl-C stops it", flush=True)
            while all(process.poll() is None for process in group.processes.values()):
                time.sleep(0.5)
            dead = [n for n, process in group.processes.items() if process.poll() is not None]
            print(f"error: {', '.join(dead)} exited; see {logs}", file=sys.stderr)
            return 1
    except Stop as stop:
        print(f"{stop}: the herd is stopped", flush=True)
        return 0
    except (TimeoutError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _dead(group: ProcessGroup, name: str) -> bool:
    if group.processes[name].poll() is not None:
        raise RuntimeError(f"{name} exited:\n{group.output(name)[-2000:]}")
    return False


if __name__ == "__main__":
    sys.exit(main())
