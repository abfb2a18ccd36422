"""``launch-workers ORCH_HOST ORCH_PORT WORKER_IP START_PORT COUNT``: start a few workers.

Each worker runs as ``twistd -n worker PORT LOGDIR WORKER_IP ORCH_HOST ORCH_PORT ID`` with
its own log directory, ``<logs>/<ID>/``, and its own twistd log, ``<logs>/<ID>/_worker.log``
and ``_worker.out`` for what twistd prints before its log starts (a SiteID cannot start
with ``_``, so neither collides with a site folder). The launcher
waits until the orchestrator lists every worker, then keeps them running until Ctrl-C,
SIGTERM or SIGHUP, and stops them all when it exits. On Linux the workers also die if the
launcher is killed outright.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from herd.core.processes import twistd
from herd.protocols.scan import ProtocolError, check_host
from herd.scan.cli.pool_status import fetch_status
from herd.scan.cli.udp_client import ClientError

MAX_WORKERS = 5
PORT_RANGE = range(54000, 54151)


class Stop(Exception):
    """A signal asked the launcher to stop."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: ask the kernel to SIGTERM this child when the launcher dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Fleet:
    """The workers this launcher started."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, port: int) -> str:
        """Start one worker on ``port``; return its identifier."""
        a = self.args
        worker_id = f"{a.id_prefix}{port}"
        logdir = (a.logs / worker_id).resolve()
        logdir.mkdir(parents=True, exist_ok=True)
        logfile = logdir / "_worker.log"
        options = [] if a.interface is None else ["--interface", a.interface]
        command = [
            *twistd(), "-n", "--pidfile=", f"--logfile={logfile}", "worker", *options,
            str(port), str(logdir), a.worker_ip, a.orch_host, str(a.orch_port), worker_id,
        ]
        with open(logdir / "_worker.out", "ab") as output:  # what twistd says before logging
            self.processes[worker_id] = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.logs[worker_id] = logdir
        pid = self.processes[worker_id].pid
        print(f"started {worker_id} (pid {pid}): port {port}, logs in {logdir}", flush=True)
        return worker_id

    def exited(self) -> dict[str, int]:
        """Workers that have exited, with their exit status."""
        codes = {wid: p.poll() for wid, p in self.processes.items()}
        return {wid: code for wid, code in codes.items() if code is not None}

    def wait_registered(self, timeout: float) -> set[str]:
        """Wait until the orchestrator lists every worker; return those still missing."""
        missing = set(self.processes)
        deadline = time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            dead = self.exited()
            if dead:
                raise RuntimeError(self.death_report(dead))
            try:
                _, workers = fetch_status(self.args.orch_host, self.args.orch_port, 1.0)
                missing -= {w.worker_id for w in workers if w.state != "unreachable"}
            except ClientError:
                pass  # not up yet
            if missing:
                time.sleep(0.2)
        return missing

    def death_report(self, dead: dict[str, int]) -> str:
        lines = []
        for wid, code in dead.items():
            lines.append(f"worker {wid} exited with status {code}:")
            for name in ("_worker.out", "_worker.log"):
                lines.append(f"--- end of {self.logs[wid] / name}\n{_tail(self.logs[wid] / name)}")
        return "\n".join(lines)

    def stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM every worker, then SIGKILL those still running after ``grace`` seconds."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if running:
            print(f"stopped {len(running)} worker(s)", flush=True)


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse and check the launcher's command line."""
    p = argparse.ArgumentParser(prog="launch-workers", description="Start scan workers.")
    p.add_argument("orch_host", metavar="ORCH_HOST")
    p.add_argument("orch_port", metavar="ORCH_PORT", type=int)
    p.add_argument("worker_ip", metavar="WORKER_IP", help="address the orchestrator reaches workers at")
    p.add_argument("start_port", metavar="START_PORT", type=int)
    p.add_argument("count", metavar="COUNT", type=int, help=f"workers to start, 1 to {MAX_WORKERS}")
    p.add_argument("--logs", type=Path, default=Path("logs"), help="base of the log directories (default ./logs)")
    p.add_argument("--id-prefix", default="worker-", help="worker identifier prefix (default worker-)")
    p.add_argument("--interface", default=None, help="address the workers listen on (default all)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for registration")
    args = p.parse_args(argv)
    if not 1 <= args.count <= MAX_WORKERS:
        p.error(f"COUNT must be from 1 to {MAX_WORKERS}")
    last = args.start_port + args.count - 1
    if args.start_port not in PORT_RANGE or last not in PORT_RANGE:
        p.error(f"worker ports {args.start_port}-{last} must lie in 54000-54150")
    if not 1 <= args.orch_port <= 65535:
        p.error("ORCH_PORT must be from 1 to 65535")
    try:
        check_host(args.orch_host)
        check_host(args.worker_ip)
    except ProtocolError as error:
        p.error(str(error))
    return args


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Start the workers, wait for their registration, run until told to stop."""
    args = parse_args(argv)
    fleet = Fleet(args)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    try:
        for port in range(args.start_port, args.start_port + args.count):
            fleet.start(port)
        missing = fleet.wait_registered(args.wait)
        if missing:
            print(
                f"warning: not registered after {args.wait:g} s: {', '.join(sorted(missing))}; "
                f"is the orchestrator running at {args.orch_host}:{args.orch_port}? "
                "The workers keep trying.",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(f"all {args.count} worker(s) registered; Ctrl-C stops them", flush=True)
        while len(fleet.exited()) < len(fleet.processes):
            time.sleep(0.5)
        print(fleet.death_report(fleet.exited()), file=sys.stderr)
        return 1
    except Stop as stop:
        print(f"{stop}: stopping the workers", flush=True)
        return 0
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        fleet.stop_all()


if __name__ == "__main__":
    sys.exit(main())
