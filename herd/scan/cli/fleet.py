"""The workers one ``launch-workers`` runs: started, watched and stopped by ``herd.core.launcher``.

Each worker is ``twistd -n worker [OPTIONS] PORT LOGDIR WORKER_IP ORCH_HOST ORCH_PORT ID``
(the twistd beside this Python, so it works from an installed wheel), with the log
directory ``<logs>/<ID>/``, its twistd log in ``_worker.log`` there and what twistd prints
before that log starts in ``_worker.out`` (a SiteID cannot start with ``_``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from twisted.internet import defer

from herd.core.datagram import NoAnswer, request
from herd.core.launcher import Child, Launcher, tcp_port_free, twistd_command, wait_until
from herd.protocols.scan_replies import StatusPage, WorkerStatus, parse_status

PORT_RANGE = range(54000, 54151)


def say(*lines: str) -> None:
    """Lines on stdout, flushed (the launcher's replies)."""
    print(*lines, sep="\n", flush=True)


class StatusError(Exception):
    """The orchestrator's STATUS could not be had; ``str()`` says why."""


async def fetch_status(reactor: Any, host: str, port: int, timeout: float) -> tuple[StatusPage, list[WorkerStatus]]:
    """Every page of the orchestrator's STATUS (parsed by the codec): the first page, all workers."""

    async def page(number: int) -> StatusPage:
        try:
            reply = await request(reactor, host, port, b"STATUS %d" % number, timeout)
        except NoAnswer as error:
            raise StatusError(str(error)) from None
        try:
            return parse_status(reply)
        except ValueError as error:
            raise StatusError(f"the orchestrator answered: {error}") from None

    first = await page(1)
    workers = list(first.workers)
    for number in range(2, first.pages + 1):
        workers.extend((await page(number)).workers)
    return first, workers


class Fleet:
    """The workers this launcher started, oldest first (stopped ones are forgotten)."""

    def __init__(self, args: argparse.Namespace, launcher: Optional[Launcher] = None) -> None:
        self.args = args
        self.launcher = launcher
        self.ports: dict[str, int] = {}
        self.logs: dict[str, Path] = {}
        self.dead: set[str] = set()  # exited on their own (reported once each)
        self._stopping: set[str] = set()

    @property
    def reactor(self) -> Any:
        assert self.launcher is not None
        return self.launcher.reactor

    def child(self, worker_id: str) -> Child:
        assert self.launcher is not None
        return self.launcher.children[worker_id]

    def command(self, port: int, worker_id: str, logdir: Path) -> list[str]:
        """The worker's command line: its options go before the positional arguments."""
        a = self.args
        options = [] if a.interface is None else ["--interface", a.interface]
        if a.concurrency is not None:
            options += ["--concurrency", str(a.concurrency)]
        if a.secret_file is not None:
            options += ["--secret-file", str(a.secret_file.resolve())]
        if getattr(a, "log_level", None) is not None:
            options += ["--log-level", a.log_level]
        return [
            *twistd_command(), "-n", "--pidfile=", f"--logfile={logdir / '_worker.log'}", "worker", *options,
            str(port), str(logdir), a.worker_ip, a.orch_host, str(a.orch_port), worker_id,
        ]

    def start(self, port: int) -> str:
        """Start one worker on ``port``; return its identifier."""
        assert self.launcher is not None
        worker_id = f"{self.args.id_prefix}{port}"
        logdir = (self.args.logs / worker_id).resolve()
        logdir.mkdir(parents=True, exist_ok=True)
        for known in (self.ports, self.logs):
            known.pop(worker_id, None)  # a dead worker on the same port: the newest goes last
        self.launcher.forget(worker_id)
        self.dead.discard(worker_id)
        child = self.launcher.spawn(worker_id, self.command(port, worker_id, logdir),
                                    output=logdir / "_worker.out")
        self.ports[worker_id], self.logs[worker_id] = port, logdir
        say(f"started {worker_id} (pid {child.pid}): port {port}, logs in {logdir}")
        return worker_id

    def running(self) -> list[str]:
        """The workers running now, oldest first."""
        return [wid for wid in self.ports if self.child(wid).running]

    def exited(self, child: Child, status: int) -> None:
        """``Launcher.on_exit``: report, once, a worker that exits on its own."""
        if child.stopping or child.name not in self.ports or child.name in self.dead:
            return
        self.dead.add(child.name)
        print(f"worker {child.name} exited with status {status}:", file=sys.stderr)
        for log in (self.logs[child.name] / "_worker.out", self.logs[child.name] / "_worker.log"):
            print(f"--- end of {log}\n{_tail(log)}", file=sys.stderr, flush=True)

    async def wait_registered(self, ids: Sequence[str]) -> tuple[set[str], set[str]]:
        """Wait (``--wait``) until the orchestrator lists ``ids``; those missing, those dead."""
        a, missing, dead = self.args, set(ids), set()

        async def listed() -> bool:
            dead.update(missing & self.dead)
            missing.difference_update(dead)
            try:
                _, workers = await fetch_status(self.reactor, a.orch_host, a.orch_port, 1.0)
                missing.difference_update(w.worker_id for w in workers if w.state != "unreachable")
            except StatusError:
                pass  # not up yet
            return not missing

        try:
            await wait_until(self.reactor, listed, a.wait, "registration", every=0.2)
        except TimeoutError:
            pass
        return missing, dead

    async def stop(self, ids: Sequence[str], grace: float = 5.0) -> None:
        """SIGTERM ``ids`` (all at once), SIGKILL those left after ``grace`` s; forget them, say so in order."""
        assert self.launcher is not None
        ids = [wid for wid in ids if wid not in self._stopping]
        self._stopping.update(ids)
        await defer.gatherResults([self.launcher.stop(wid, grace) for wid in ids], consumeErrors=True)
        for wid in ids:
            del self.ports[wid], self.logs[wid]
            self.launcher.forget(wid)
            self._stopping.discard(wid)
            say(f"stopped {wid}")

    def free_ports(self, count: int) -> list[int]:
        """``count`` free ports above the highest one in use (START_PORT when none is)."""
        used = [self.ports[wid] for wid in self.running()]
        port, found = max(used) + 1 if used else self.args.start_port, []
        while len(found) < count and port in PORT_RANGE:
            if tcp_port_free(self.args.interface or "", port):
                found.append(port)
            port += 1
        return found


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
