"""A whole scan pool on loopback: demo web site, orchestrator, workers via launch-workers.

Started the way a user starts them (``twistd -n web``, ``twistd -n orchestrator``,
``launch-workers``), inside a ProcessGroup that stops them all.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Optional, Sequence

from attrs import frozen

from herd.protocols.scan_replies import WorkerStatus
from herd.scan.cli.pool_status import fetch_status
from herd.scan.cli.udp_client import NoAnswer, ask
from herd.scan.demosite import SITE, DemoPage, render_site
from herd.core.launcher import twistd_command
from herd.testing.processes import (
    LOOPBACK,
    ProcessGroup,
    command,
    free_port,
    free_port_run,
    tcp_accepts,
    wait_for,
)


@frozen
class ScanPool:
    """Where the parts of a running pool are."""

    base_url: str
    site: Path
    pages: list[DemoPage]
    orch_port: int
    worker_ports: list[int]
    logs: Path

    def ask(self, message: bytes, timeout: float = 5.0) -> bytes:
        """One request datagram to the orchestrator, its reply."""
        return ask(LOOPBACK, self.orch_port, message, timeout)

    def status(self) -> list[WorkerStatus]:
        """Every worker of the pool status (all pages)."""
        return fetch_status(LOOPBACK, self.orch_port, 5.0)[1]

    def worker_logdir(self, worker_id: str) -> Path:
        return self.logs / worker_id


def start_web(group: ProcessGroup, workdir: Path, template: Path = SITE) -> tuple[str, Path, list[DemoPage]]:
    """Render ``template`` and serve it with ``twistd web``; base URL, folder, pages."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    site = workdir / "site"
    pages = render_site(template, site, base)
    group.start(
        "web",
        [*twistd_command(), "-n", "--pidfile=", "web", "--path", str(site), "--listen",
         f"tcp:{port}:interface={LOOPBACK}"],
    )
    wait_for(lambda: tcp_accepts(port), 20, "the demo web site")
    return base, site, pages


def start_orchestrator(group: ProcessGroup, port: int, *options: str) -> None:
    """``twistd -n orchestrator`` on loopback ``port``; returns once it answers STATUS.

    Its database is ``<group logs>/orchestrator.sqlite`` unless ``options`` name a ``--db``.
    """
    if "--db" not in options:
        options = ("--db", str(group.logs / "orchestrator.sqlite"), *options)
    group.start(
        "orchestrator",
        [*twistd_command(), "-n", "--pidfile=", "orchestrator", "--port", str(port),
         "--interface", LOOPBACK, *options],
    )

    def answers() -> bool:
        try:
            return ask(LOOPBACK, port, b"STATUS", 0.5).startswith(b"200 STATUS")
        except NoAnswer:
            return False

    wait_for(answers, 20, "the orchestrator to answer STATUS")


def start_workers(
    group: ProcessGroup, orch_port: int, count: int, logs: Path, low: int = 54000,
    launcher: Optional[Sequence[str]] = None, spread: bool = True,
) -> list[int]:
    """``launch-workers`` for ``count`` workers (ports from ``low`` up, the first free
    run); returns once all have registered. ``launcher``: another way to run it (the
    demo's ``bin/launch-workers``). ``spread``: see ``free_port_run`` (the demo takes the
    lowest ports)."""
    start = free_port_run(count, low, spread=spread)
    group.start(
        "launch-workers",
        [*(launcher or command("launch-workers")), LOOPBACK, str(orch_port), LOOPBACK, str(start), str(count),
         "--interface", LOOPBACK, "--logs", str(logs)],
    )
    launcher = group.processes["launch-workers"]

    def launched() -> bool:
        if "registered; Ctrl-C" in group.output("launch-workers"):
            return True
        if launcher.poll() is not None:
            raise RuntimeError("launch-workers failed:\n" + group.output("launch-workers"))
        return False

    wait_for(launched, 40, "launch-workers to report every worker registered")
    return list(range(start, start + count))


def start_scan_pool(group: ProcessGroup, workdir: Path, workers: int = 2) -> ScanPool:
    """The demo site, an orchestrator and ``workers`` workers, all on loopback."""
    base, site, pages = start_web(group, workdir)
    orch_port = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch_port)
    logs = workdir / "logs"
    ports = start_workers(group, orch_port, workers, logs)
    return ScanPool(base, site, pages, orch_port, ports, logs)
