"""``launch-workers ORCH_HOST ORCH_PORT WORKER_IP START_PORT COUNT``: start and steer workers.

Each worker runs as ``twistd -n worker [OPTIONS] PORT LOGDIR WORKER_IP ORCH_HOST ORCH_PORT ID``
with the log directory ``<logs>/<ID>/``, its twistd log in ``_worker.log`` there and what
twistd prints before that log starts in ``_worker.out`` (a SiteID cannot start with ``_``).
``--concurrency N`` and ``--secret-file PATH`` are passed on to every worker (which inherit
the environment, ``HERD_SECRET`` included). COUNT workers start on consecutive ports from
START_PORT; the launcher waits until the orchestrator lists them, runs until Ctrl-C, SIGTERM
or SIGHUP, then stops them all. On Linux they also die if the launcher is killed outright.
A worker that dies on its own is reported once, with the end of its logs.

Interactive mode (the default when stdin is the terminal and the launcher is in the
foreground; ``--interactive`` forces it, ``--no-input`` turns it off) reads commands, one a
line, any case: ``ADD [n]`` starts n (1) more workers on the next free ports above the
highest in use (54000-54150, at most ``--max``, 5, running) and waits for their registration;
``REDUCE [n]`` stops the n (1) most recently started (SIGTERM, then SIGKILL); ``STATUS`` shows
the launcher's workers and what the orchestrator says of them; ``QUIT`` or end of input
(Ctrl-D) stops them all and exits 0; ``HELP``. Replies are plain lines on stdout, no prompt:
``started worker-54003 (pid 123): ...``, ``stopped worker-54003``, ``error: ...``.
Otherwise stdin is never read: ``< /dev/null`` (CI, tests) runs until a signal, and the
launcher exits 1 once every worker has died.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from herd.core.processes import twistd
from herd.protocols.scan import ProtocolError, check_host
from herd.scan.cli.pool_status import fetch_status, table
from herd.scan.cli.udp_client import ClientError

MAX_WORKERS = 5
PORT_RANGE = range(54000, 54151)
HELP = """commands (one a line, any case):
  ADD [n]     start n (default 1) more workers
  REDUCE [n]  stop the n (default 1) most recently started workers
  STATUS      the launcher's workers and the orchestrator's view of them
  QUIT        stop every worker and exit (so does end of input)
  HELP        this list"""


class Stop(Exception):
    """A signal asked the launcher to stop."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: ask the kernel to SIGTERM this child when the launcher dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def say(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


class Fleet:
    """The workers this launcher started, oldest first (stopped ones are forgotten)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.logs: dict[str, Path] = {}
        self.reported: set[str] = set()

    def command(self, port: int, worker_id: str, logdir: Path) -> list[str]:
        """The worker's command line: its options go before the positional arguments."""
        a = self.args
        options = [] if a.interface is None else ["--interface", a.interface]
        if a.concurrency is not None:
            options += ["--concurrency", str(a.concurrency)]
        if a.secret_file is not None:
            options += ["--secret-file", str(a.secret_file.resolve())]
        return [
            *twistd(), "-n", "--pidfile=", f"--logfile={logdir / '_worker.log'}", "worker", *options,
            str(port), str(logdir), a.worker_ip, a.orch_host, str(a.orch_port), worker_id,
        ]

    def start(self, port: int) -> str:
        """Start one worker on ``port``; return its identifier."""
        worker_id = f"{self.args.id_prefix}{port}"
        logdir = (self.args.logs / worker_id).resolve()
        logdir.mkdir(parents=True, exist_ok=True)
        for known in (self.processes, self.ports, self.logs):
            known.pop(worker_id, None)  # a dead worker on the same port: the newest goes last
        self.reported.discard(worker_id)
        with open(logdir / "_worker.out", "ab") as output:  # what twistd says before logging
            self.processes[worker_id] = subprocess.Popen(
                self.command(port, worker_id, logdir), stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.ports[worker_id], self.logs[worker_id] = port, logdir
        say(f"started {worker_id} (pid {self.processes[worker_id].pid}): port {port}, logs in {logdir}")
        return worker_id

    def running(self) -> list[str]:
        return [wid for wid, p in self.processes.items() if p.poll() is None]

    def reap(self) -> set[str]:
        """Report, once each, the workers that have exited on their own; return those new."""
        new = {wid for wid, p in self.processes.items() if p.poll() is not None} - self.reported
        for wid in new:
            self.reported.add(wid)
            print(f"worker {wid} exited with status {self.processes[wid].returncode}:", file=sys.stderr)
            for log in (self.logs[wid] / "_worker.out", self.logs[wid] / "_worker.log"):
                print(f"--- end of {log}\n{_tail(log)}", file=sys.stderr, flush=True)
        return new

    def wait_registered(self, ids: Sequence[str]) -> tuple[set[str], set[str]]:
        """Wait (``--wait``) until the orchestrator lists ``ids``; those missing, those dead."""
        missing, dead = set(ids), set()
        deadline = time.monotonic() + self.args.wait
        while missing and time.monotonic() < deadline:
            dead |= missing & self.reap()
            missing -= dead
            try:
                _, workers = fetch_status(self.args.orch_host, self.args.orch_port, 1.0)
                missing -= {w.worker_id for w in workers if w.state != "unreachable"}
            except ClientError:
                pass  # not up yet
            time.sleep(0.2 if missing else 0)
        return missing, dead

    def stop(self, ids: Sequence[str], grace: float = 5.0) -> None:
        """SIGTERM ``ids``, SIGKILL those still running after ``grace`` seconds; forget them."""
        for wid in ids:
            if self.processes[wid].poll() is None:
                self.processes[wid].terminate()
        deadline = time.monotonic() + grace
        for wid in ids:
            process = self.processes[wid]
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            del self.processes[wid], self.ports[wid], self.logs[wid]
            say(f"stopped {wid}")

    def free_ports(self, count: int) -> list[int]:
        """``count`` free ports above the highest one in use (START_PORT when none is)."""
        used = [self.ports[wid] for wid in self.running()]
        port, found = max(used) + 1 if used else self.args.start_port, []
        while len(found) < count and port in PORT_RANGE:
            if _port_free(self.args.interface or "", port):
                found.append(port)
            port += 1
        return found


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as twistd listens
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def _foreground() -> bool:
    """Whether stdin is a terminal this process may read now (not as a background job)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def launch(fleet: Fleet, ports: Sequence[int], done: str) -> bool:
    """Start workers on ``ports``, wait for their registration, print ``done``; False if one died."""
    a = fleet.args
    ids = [fleet.start(port) for port in ports]
    missing, dead = fleet.wait_registered(ids)
    if missing:
        print(f"warning: not registered after {a.wait:g} s: {', '.join(sorted(missing))}; is the "
              f"orchestrator running at {a.orch_host}:{a.orch_port}? The workers keep trying.",
              file=sys.stderr, flush=True)
    if dead:
        say(f"error: {', '.join(sorted(dead))} exited while starting (see above)")
    elif not missing:
        say(done.format(n=len(ids), ids=", ".join(ids)))
    return not dead


def status(fleet: Fleet) -> None:
    """The launcher's own view of its workers, then the orchestrator's."""
    a = fleet.args
    rows = [("ID", "PORT", "PID", "STATE", "LOGS")] + [
        (wid, str(fleet.ports[wid]), str(p.pid),
         "alive" if p.poll() is None else f"exited({p.returncode})", str(fleet.logs[wid]))
        for wid, p in fleet.processes.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    say(f"launcher: {len(fleet.running())} worker(s) running, at most {a.max}",
        *("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows))
    try:
        first, workers = fetch_status(a.orch_host, a.orch_port, 2.0)
    except ClientError as error:
        say(f"orchestrator {a.orch_host}:{a.orch_port}: {error}")
        return
    ours = [w for w in workers if w.worker_id in fleet.processes]
    say(f"orchestrator {a.orch_host}:{a.orch_port}: {len(workers)} worker(s), "
        f"{first.queued} job(s) queued; this launcher's (times UTC):", table(ours))


def command(fleet: Fleet, line: str) -> bool:
    """Carry out one command line; False once the launcher should quit."""
    words = line.split()
    if not words:
        return True
    verb, rest = words[0].upper(), words[1:]
    if verb in ("ADD", "REDUCE") and len(rest) <= 1:
        if rest and not (rest[0].isdigit() and int(rest[0]) > 0):
            say(f"error: {verb} takes a positive whole number, not {rest[0]!r}")
            return True
        n, running = int(rest[0]) if rest else 1, fleet.running()
        if verb == "REDUCE":
            if not running:
                say("error: REDUCE: no worker is running")
            fleet.stop(running[::-1][:n])
        elif len(running) + n > fleet.args.max:
            say(f"error: ADD {n} refused: {len(running)} running, at most {fleet.args.max} (--max)")
        elif len(ports := fleet.free_ports(n)) < n:
            say(f"error: ADD {n} refused: not {n} free port(s) left in 54000-54150")
        else:
            launch(fleet, ports, "registered: {ids}")
    elif verb == "STATUS" and not rest:
        status(fleet)
    elif verb == "HELP" and not rest:
        say(HELP)
    elif verb == "QUIT" and not rest:
        return False
    else:
        say(f"error: unknown command {line.strip()!r}; HELP lists the commands")
    return True


def interact(fleet: Fleet) -> str:
    """Read commands from stdin until QUIT or end of input, reporting dead workers; say which."""
    fd, pending = sys.stdin.fileno(), b""
    while True:
        fleet.reap()
        if os.isatty(fd) and not _foreground():  # reading would stop a background job
            time.sleep(0.5)
            continue
        if not select.select([fd], [], [], 0.5)[0]:  # select(): epoll refuses files, /dev/null
            continue
        data = os.read(fd, 4096)  # not sys.stdin: its buffer would hide lines from select
        *lines, pending = (pending + (data or b"\n")).split(b"\n")
        for line in lines:
            if not command(fleet, line.decode(errors="replace")):
                return "QUIT"
        if not data:
            return "end of input"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse and check the launcher's command line."""
    p = argparse.ArgumentParser(prog="launch-workers", description="Start scan workers.")
    p.add_argument("orch_host", metavar="ORCH_HOST")
    p.add_argument("orch_port", metavar="ORCH_PORT", type=int)
    p.add_argument("worker_ip", metavar="WORKER_IP", help="address the orchestrator reaches workers at")
    p.add_argument("start_port", metavar="START_PORT", type=int)
    p.add_argument("count", metavar="COUNT", type=int, help="workers to start, 1 to --max (0 too if interactive)")
    p.add_argument("--logs", type=Path, default=Path("logs"), help="base of the log directories (default ./logs)")
    p.add_argument("--id-prefix", default="worker-", help="worker identifier prefix (default worker-)")
    p.add_argument("--interface", default=None, help="address the workers listen on (default all)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for registration")
    p.add_argument("--max", type=int, default=MAX_WORKERS, help=f"most workers running at once (default {MAX_WORKERS})")
    p.add_argument("--concurrency", type=int, default=None, help="passed on: jobs each worker runs at once")
    p.add_argument("--secret-file", type=Path, default=None, help="passed on: file holding the shared secret")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--interactive", action="store_true", default=None,
                      help="read commands from stdin (default when it is the terminal, in the foreground)")
    mode.add_argument("--no-input", dest="interactive", action="store_false", help="never read stdin")
    args = p.parse_args(argv)
    if args.interactive is None:
        args.interactive = _foreground()
    if not 1 <= args.max <= len(PORT_RANGE):
        p.error(f"--max must be from 1 to {len(PORT_RANGE)}")
    if not int(not args.interactive) <= args.count <= args.max:
        p.error(f"COUNT must be from {int(not args.interactive)} to {args.max}")
    last = args.start_port + max(args.count, 1) - 1
    if args.start_port not in PORT_RANGE or last not in PORT_RANGE:
        p.error(f"worker ports {args.start_port}-{last} must lie in 54000-54150")
    if not 1 <= args.orch_port <= 65535:
        p.error("ORCH_PORT must be from 1 to 65535")
    if args.concurrency is not None and args.concurrency < 1:
        p.error("--concurrency must be at least 1")
    if args.secret_file is not None and not args.secret_file.is_file():
        p.error(f"--secret-file {args.secret_file}: no such file")
    try:
        check_host(args.orch_host), check_host(args.worker_ip)
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
        ports = range(args.start_port, args.start_port + args.count)
        done = "all {n} worker(s) registered; Ctrl-C stops them"
        if args.interactive:
            if ports:
                launch(fleet, ports, done)
            say("type HELP for the commands")
            say(f"{interact(fleet)}: stopping the workers")
            return 0
        if not launch(fleet, ports, done):
            return 1
        while fleet.running():
            fleet.reap()
            time.sleep(0.5)
        fleet.reap()
        print("error: every worker has exited", file=sys.stderr, flush=True)
        return 1
    except Stop as stop:
        print(f"{stop}: stopping the workers", flush=True)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        fleet.stop(fleet.running()[::-1])


if __name__ == "__main__":
    sys.exit(main())
