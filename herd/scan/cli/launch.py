"""``launch-workers ORCH_HOST ORCH_PORT WORKER_IP START_PORT COUNT``: start and steer workers.

Each worker runs as ``twistd -n worker [OPTIONS] PORT LOGDIR WORKER_IP ORCH_HOST ORCH_PORT ID``
(see ``herd.scan.cli.fleet``), started and stopped by ``herd.core.launcher``.
``--concurrency N``, ``--secret-file PATH`` and ``--log-level LEVEL`` are passed on to every worker (which inherit
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
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from twisted.internet import defer, task

from herd.core.launcher import Launcher, run_launcher
from herd.protocols.scan import ProtocolError, check_host
from herd.scan.cli.fleet import PORT_RANGE, Fleet, StatusError, fetch_status, say
from herd.scan.cli.pool_status import table

MAX_WORKERS = 5
HELP = """commands (one a line, any case):
  ADD [n]     start n (default 1) more workers
  REDUCE [n]  stop the n (default 1) most recently started workers
  STATUS      the launcher's workers and the orchestrator's view of them
  QUIT        stop every worker and exit (so does end of input)
  HELP        this list"""


def _foreground() -> bool:
    """Whether stdin is a terminal this process may read now (not as a background job)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


async def launch(fleet: Fleet, ports: Sequence[int], done: str) -> bool:
    """Start workers on ``ports``, wait for their registration, print ``done``; False if one died."""
    a = fleet.args
    ids = [fleet.start(port) for port in ports]
    missing, dead = await fleet.wait_registered(ids)
    if missing:
        print(f"warning: not registered after {a.wait:g} s: {', '.join(sorted(missing))}; is the "
              f"orchestrator running at {a.orch_host}:{a.orch_port}? The workers keep trying.",
              file=sys.stderr, flush=True)
    if dead:
        say(f"error: {', '.join(sorted(dead))} exited while starting (see above)")
    elif not missing:
        say(done.format(n=len(ids), ids=", ".join(ids)))
    return not dead


async def status(fleet: Fleet) -> None:
    """The launcher's own view of its workers, then the orchestrator's."""
    a = fleet.args
    rows = [("ID", "PORT", "PID", "STATE", "LOGS")]
    for wid in fleet.ports:
        child = fleet.child(wid)
        state = "alive" if child.running else f"exited({child.status})"
        rows.append((wid, str(fleet.ports[wid]), str(child.pid), state, str(fleet.logs[wid])))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    say(f"launcher: {len(fleet.running())} worker(s) running, at most {a.max}",
        *("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows))
    try:
        first, workers = await fetch_status(fleet.reactor, a.orch_host, a.orch_port, 2.0)
    except StatusError as error:
        say(f"orchestrator {a.orch_host}:{a.orch_port}: {error}")
        return
    ours = [w for w in workers if w.worker_id in fleet.ports]
    say(f"orchestrator {a.orch_host}:{a.orch_port}: {len(workers)} worker(s), "
        f"{first.queued} job(s) queued; this launcher's (times UTC):", table(ours))


async def command(fleet: Fleet, line: str) -> bool:
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
            await fleet.stop(running[::-1][:n])
        elif len(running) + n > fleet.args.max:
            say(f"error: ADD {n} refused: {len(running)} running, at most {fleet.args.max} (--max)")
        elif len(ports := fleet.free_ports(n)) < n:
            say(f"error: ADD {n} refused: not {n} free port(s) left in 54000-54150")
        else:
            await launch(fleet, ports, "registered: {ids}")
    elif verb == "STATUS" and not rest:
        await status(fleet)
    elif verb == "HELP" and not rest:
        say(HELP)
    elif verb == "QUIT" and not rest:
        return False
    else:
        say(f"error: unknown command {line.strip()!r}; HELP lists the commands")
    return True


class StdinLines:
    """stdin as lines, read by the reactor (a file or /dev/null too); ``None`` at end of input.

    stdin is left blocking (it may be the user's terminal); a terminal is only read while
    the launcher is in the foreground, so a background job is never stopped by SIGTTIN.
    """

    def __init__(self, reactor: Any, fd: int = 0) -> None:
        self.reactor, self.fd = reactor, fd
        self.lines: defer.DeferredQueue[Optional[str]] = defer.DeferredQueue()
        self._pending = b""
        self._reading = False
        self._eof = False
        self._tty = os.isatty(fd)
        self._watch = task.LoopingCall(self._follow_foreground)
        self._watch.clock = reactor

    def start(self) -> None:
        if self._tty:
            self._watch.start(0.5)
        else:
            self._read_on()

    def _follow_foreground(self) -> None:
        if _foreground() and not self._eof:
            self._read_on()
        else:
            self._read_off()

    def _read_on(self) -> None:
        if not self._reading:
            self._reading = True
            self.reactor.addReader(self)

    def _read_off(self) -> None:
        if self._reading:
            self._reading = False
            self.reactor.removeReader(self)

    def stop(self) -> None:
        self._read_off()
        if self._watch.running:
            self._watch.stop()

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "stdin"

    def connectionLost(self, reason: object) -> None:
        """The reactor saw the end of stdin (a closed pipe): end of input."""
        self._reading = False
        self._end()

    def doRead(self) -> None:
        data = os.read(self.fd, 4096)
        *lines, self._pending = (self._pending + (data or b"\n")).split(b"\n")
        for line in lines:
            self.lines.put(line.decode(errors="replace"))
        if not data:
            self._end()

    def _end(self) -> None:
        if not self._eof:
            if self._pending:
                self.lines.put(self._pending.decode(errors="replace"))
                self._pending = b""
            self._eof = True
            self.stop()
            self.lines.put(None)


async def interact(fleet: Fleet, stdin: StdinLines) -> str:
    """Carry out commands from stdin until QUIT or end of input; say which."""
    stdin.start()
    try:
        while True:
            line = await stdin.lines.get()
            if line is None:
                return "end of input"
            if not await command(fleet, line):
                return "QUIT"
    finally:
        stdin.stop()


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
    p.add_argument("--log-level", default=None, choices=["debug", "info", "warn", "error"],
                   help="passed on: the workers' log level (default info; debug logs every job)")
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


async def run(args: argparse.Namespace, fleet: Fleet) -> int:
    """Start the workers, wait for their registration, then take commands or wait for their end."""
    ports = range(args.start_port, args.start_port + args.count)
    done = "all {n} worker(s) registered; Ctrl-C stops them"
    if args.interactive:
        if ports:
            await launch(fleet, ports, done)
        say("type HELP for the commands")
        say(f"{await interact(fleet, StdinLines(fleet.reactor))}: stopping the workers")
        await fleet.stop(fleet.running()[::-1])
        return 0
    if not await launch(fleet, ports, done):
        await fleet.stop(fleet.running()[::-1])
        return 1
    await defer.gatherResults([fleet.child(wid).ended for wid in fleet.running()])
    print("error: every worker has exited", file=sys.stderr, flush=True)
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Start the workers, wait for their registration, run until told to stop."""
    args = parse_args(argv)
    fleet = Fleet(args)

    def begin(reactor: Any, launcher: Launcher) -> defer.Deferred[int]:
        fleet.launcher = launcher
        launcher.on_exit = fleet.exited
        return defer.Deferred.fromCoroutine(run(args, fleet))

    def on_signal(name: str) -> defer.Deferred[None]:
        print(f"{name}: stopping the workers", flush=True)
        return defer.Deferred.fromCoroutine(fleet.stop(fleet.running()[::-1]))

    return run_launcher(begin, args.logs, on_signal=on_signal)


if __name__ == "__main__":
    sys.exit(main())
