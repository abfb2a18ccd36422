"""``bin/replica-client --name C1``: send requests to the replicated counter.

Options: ``--cluster FILE`` (default: the packaged one), ``--requests N`` (forever without
it; SIGINT or SIGTERM stops it after the request in flight), ``--interval S`` between a reply and the next request, ``--timeout S`` per round,
``--logs DIR`` (also write the printed messages to ``DIR/C1.log``), ``--history FILE``
(one JSON line per operation). Exits 0 after N answered requests, 1 with
``all servers are dead``, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import IO, Optional, Sequence

from twisted.internet import task
from twisted.internet.defer import Deferred

from herd.core.links import Link
from herd.replication.client.core import ClientCore
from herd.replication.cluster import DEFAULT, RM, ClusterError, load_cluster
from herd.replication.connection import MessageConnection
from herd.replication.console import Console


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="replica-client", description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True, help="client name (C1, C2, C3 by default)")
    p.add_argument("--cluster", type=Path, default=DEFAULT, help="cluster file (JSON)")
    p.add_argument("--requests", type=int, default=None, help="requests to send (default: forever)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between requests")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per round of retries")
    p.add_argument("--give-up", type=float, default=10.0,
                   help="seconds without any reply (and 3 rounds) before giving up")
    p.add_argument("--first", type=int, default=1, help="first request number")
    p.add_argument("--logs", type=Path, default=None, help="also print to DIR/NAME.log")
    p.add_argument("--history", type=Path, default=None, help="JSON lines, one per operation")
    args = p.parse_args(argv)
    if args.requests is not None and args.requests < 0:
        p.error("--requests must be >= 0")
    if args.timeout <= 0 or args.interval < 0 or args.first < 1:
        p.error("--timeout must be > 0, --interval >= 0, --first >= 1")
    try:
        args.herd = load_cluster(args.cluster)
    except ClusterError as error:
        p.error(str(error))
    if args.name not in args.herd.clients:
        p.error(f"--name must be a client of the cluster: {', '.join(args.herd.clients)}")
    return args


async def run(reactor: object, args: argparse.Namespace) -> None:
    """Run the client until it is done; SystemExit with its exit code."""
    cluster = args.herd
    console = Console(reactor, args.logs / f"{args.name}.log" if args.logs else None, sys.stdout)
    history: Optional[IO[str]] = open(args.history, "a", encoding="utf-8") if args.history else None
    done: Deferred[int] = Deferred()
    links: dict[str, Link[MessageConnection]] = {}

    def want(servers: tuple[str, ...]) -> None:
        for server in servers:
            if server in links or server not in cluster.replicas:
                continue
            where = cluster.replicas[server]
            link: Link[MessageConnection] = Link(
                reactor, server, where.host, where.port,
                lambda link: MessageConnection(core, link=link),
                on_up=lambda conn, s=server: core.server_up(s, conn),
                on_down=lambda reason, s=server: core.server_down(s),
                initial_delay=0.1, max_delay=1.0)
            links[server] = link
            link.startService()

    core = ClientCore(args.name, reactor, console, args.requests, args.interval, args.timeout,
                      args.give_up, args.first, history, on_done=done.callback, want=want)
    rm = Link(reactor, RM, cluster.rm.host, cluster.rm.port,
              lambda link: MessageConnection(core, link=link),
              on_up=core.rm_up, on_down=lambda reason: core.rm_down(),
              initial_delay=0.1, max_delay=1.0)
    rm.startService()

    def graceful() -> None:  # after the reactor's own handlers, which stop it at once
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: reactor.callFromThread(core.wind_down))
    reactor.callWhenRunning(graceful)
    core.start()
    try:
        code = await done
    finally:
        for link in [rm, *links.values()]:
            await link.stopService()
        if history is not None:
            history.close()
        console.close()
    raise SystemExit(code)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse(argv)
    task.react(lambda reactor: Deferred.fromCoroutine(run(reactor, args)))


if __name__ == "__main__":
    main()
