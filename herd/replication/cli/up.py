"""``cluster-up active|passive``: the RM, the GFD and the LFDs (which start the replicas).

Started with herd's launcher (``herd.core.launcher``): each component is ``twistd -n``,
its printed messages in ``DIR/NAME.log``, its process id in ``DIR/NAME.pid``, twistd's own
log and output in ``DIR/twistd/``. Waits until every replica is ready, prints who is
primary, then runs until Ctrl-C or SIGTERM, which stop every process of the cluster (the
LFDs stop their replicas; any replica left over is killed from its pid file).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from twisted.internet import defer

from herd.core.launcher import Child, Launcher, run_launcher, twistd_command, wait_until
from herd.replication.cluster import DEFAULT, GFD, RM, ClusterError, load_cluster
from herd.replication.status import primary, printed, ready


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cluster-up", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("active", "passive"))
    p.add_argument("--cluster", type=Path, default=DEFAULT, help="cluster file (JSON)")
    p.add_argument("--logs", type=Path, default=Path("logs/replication"), help="log directory")
    p.add_argument("--heartbeat-freq", type=float, default=1.0, help="seconds between heartbeats")
    p.add_argument("--checkpoint-freq", type=float, default=10.0,
                   help="seconds between a passive primary's checkpoints")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the replicas")
    args = p.parse_args(argv)
    if args.heartbeat_freq <= 0 or args.checkpoint_freq <= 0:
        p.error("frequencies must be > 0")
    try:
        args.herd = load_cluster(args.cluster)
    except ClusterError as error:
        p.error(str(error))
    return args


def _kill_leftovers(logs: Path, replicas: Sequence[str]) -> None:
    """Replicas whose LFD could not stop them (an LFD killed outright)."""
    for replica in replicas:
        try:
            pid = int((logs / f"{replica}.pid").read_text())
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"replica" not in cmdline.read():
                    continue
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(argv)
    logs: Path = args.logs.resolve()
    (logs / "twistd").mkdir(parents=True, exist_ok=True)
    cluster_file = str(args.cluster.resolve())
    replicas = sorted(args.herd.replicas)
    rm_log = logs / f"{RM}.log"
    rm_start = len(printed(rm_log))

    def start(launcher: Launcher, name: str, *command: str) -> Child:
        child = launcher.spawn(name, [
            *twistd_command(), "-n", "--pidfile=", f"--logfile={logs / 'twistd' / (name + '.log')}",
            *command, "--cluster", cluster_file, "--logs", str(logs)],
            output=logs / "twistd" / f"{name}.out")
        (logs / f"{name}.pid").write_text(f"{child.pid}\n")
        return child

    async def up(reactor: object, launcher: Launcher) -> int:
        children = [start(launcher, RM, "rm", "--mode", args.mode),
                    start(launcher, GFD, "gfd", "--heartbeat-freq", str(args.heartbeat_freq))]
        for replica in replicas:
            lfd = args.herd.lfd_of[replica]
            children.append(start(
                launcher, lfd, "lfd", "--name", lfd, "--heartbeat-freq", str(args.heartbeat_freq),
                "--checkpoint-freq", str(args.checkpoint_freq)))

        async def all_ready() -> bool:
            for child in children:
                if not child.running:  # a busy port, a bad cluster file...
                    twistd_log = printed(logs / "twistd" / f"{child.name}.log")[-2:]
                    raise RuntimeError(f"{child.name} exited (see {logs / 'twistd'}): "
                                       + " ".join(twistd_log)[-300:])
            return ready(printed(rm_log)[rm_start:]) >= set(replicas)
        try:
            await wait_until(reactor, all_ready, args.wait, "every replica to be ready")
        except (TimeoutError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            return 1
        first = primary(printed(rm_log)[rm_start:])
        backups = ", ".join(r for r in replicas if r != first)
        print(f"cluster up ({args.mode}): primary {first}; backups {backups}; "
              f"RM {args.herd.rm.host}:{args.herd.rm.port}; logs in {logs}; Ctrl-C stops it",
              flush=True)
        await defer.Deferred()  # until a signal
        return 0

    def stopping(name: str) -> None:
        print(f"{name}: stopping the cluster", flush=True)

    try:
        code = run_launcher(up, logs / "twistd", on_signal=stopping)
    finally:
        _kill_leftovers(logs, replicas)
    return code


if __name__ == "__main__":
    sys.exit(main())
