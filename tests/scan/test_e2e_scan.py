"""End to end: real processes on loopback, started the way a user starts them.

The demo web site (``twistd web``), ``twistd -n orchestrator``, workers through
``bin/launch-workers``, requests through ``bin/client-v2``, ``bin/check-hits`` and
``bin/pool-status``. Every process is stopped when its test ends, failing or not.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from herd.protocols.scan_replies import parse_hits
from herd.scan.demosite import COURSE, DemoPage
from herd.core.launcher import twistd_command as twistd
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, tcp_accepts, wait_for
from tests.checkout import BIN
from herd.testing.scan import (
    ScanPool,
    start_orchestrator,
    start_scan_pool,
    start_web,
    start_workers,
)

pytestmark = pytest.mark.e2e
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def run_script(name: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``bin/<name>`` to completion and return what it printed."""
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def client_v2(pool: ScanPool, page: DemoPage) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "client-v2"), page.url(pool.base_url), page.ad_id, page.site_id,
         "--server", LOOPBACK, "--port", str(pool.orch_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def worker_pids(group: ProcessGroup) -> dict[str, int]:
    """The workers' process ids, as launch-workers printed them."""
    found = re.findall(r"started (\S+) \(pid (\d+)\)", group.output("launch-workers"))
    return {worker_id: int(pid) for worker_id, pid in found}


def jobs_done(pool: ScanPool) -> int:
    return sum(w.jobs_done for w in pool.status())


def scan_folders(pool: ScanPool, site_id: str) -> list[Path]:
    """Every scan folder of ``site_id``, across the workers' log directories."""
    return sorted(pool.logs.glob(f"*/{site_id}/*"))


def check_on_disk(pool: ScanPool, page: DemoPage) -> None:
    """The one scan of ``page`` left exactly the expected images, byte for byte."""
    [folder] = scan_folders(pool, page.site_id)
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    expected = {Path(i).name: (pool.site / i).read_bytes() for i in page.images}
    assert saved == expected, (page, sorted(saved), sorted(expected))


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ProcessGroup]:
    with ProcessGroup(tmp_path / "processes") as processes:
        yield processes


@pytest.fixture
def pool(group: ProcessGroup, tmp_path: Path) -> ScanPool:
    return start_scan_pool(group, tmp_path, workers=2)


def test_ten_rapid_checks_through_two_workers(pool: ScanPool) -> None:
    pages = pool.pages[:10]
    clients = [client_v2(pool, page) for page in pages]  # all at once
    replies = [c.communicate(timeout=30) for c in clients]
    assert all(re.fullmatch(r"200 OK \d+\n", out) for out, _ in replies), replies
    assert all(c.returncode == 0 for c in clients)

    wait_for(lambda: jobs_done(pool) == 10, 60, "ten results")
    workers = pool.status()
    assert sorted(w.worker_id for w in workers) == ["worker-%d" % p for p in pool.worker_ports]
    assert all(w.state == "idle" and w.last_sent and w.last_result for w in workers)

    for page in pages:
        check_on_disk(pool, page)

    hits_out = run_script("check-hits", LOOPBACK, str(pool.orch_port), "5")
    assert hits_out.returncode == 0, hits_out.stderr
    lines = hits_out.stdout.splitlines()
    assert len(lines) == 5
    found_sites = {p.site_id: p for p in pages if p.found}
    for line in lines:
        worker_id, site_id, ad_id, fetched, folder = line.split()
        assert site_id in found_sites and ad_id == found_sites[site_id].ad_id
        assert TIME.fullmatch(fetched)
        assert (pool.logs / worker_id / folder).is_dir()

    status_out = run_script("pool-status", LOOPBACK, str(pool.orch_port))
    assert status_out.returncode == 0, status_out.stderr
    for port in pool.worker_ports:
        row = next(line for line in status_out.stdout.splitlines() if f"worker-{port}" in line)
        assert len(TIME.findall(row)) == 2 and " idle " in row, row


def test_same_site_in_the_same_second_never_merges(pool: ScanPool) -> None:
    page = next(p for p in pool.pages if p.page == "ad-comment.html")
    line = f"CHECK {page.url(pool.base_url)} {page.ad_id} S1".encode()
    for _ in range(6):
        assert pool.ask(line).startswith(b"200 OK")
    wait_for(lambda: jobs_done(pool) == 6, 60, "six results")
    folders = scan_folders(pool, "S1")
    assert len(folders) == 6
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == sorted(Path(i).name for i in page.images)


def test_part1_client_talks_to_a_worker_directly(pool: ScanPool) -> None:
    page = next(p for p in pool.pages if p.page == "ad-top.html")
    with socket.create_connection((LOOPBACK, pool.worker_ports[0]), timeout=30) as sock:
        sock.sendall(f"CHECK {page.url(pool.base_url)} {page.ad_id} {page.site_id}".encode())
        reply = sock.recv(1024).decode()
    assert re.fullmatch(rf"200 YES {page.site_id} \d{{4}}(-\d\d){{5}}\n", reply), reply
    check_on_disk(pool, page)


def test_dead_worker_loses_no_job(pool: ScanPool, group: ProcessGroup) -> None:
    victim = pool.worker_ports[0]
    os.kill(worker_pids(group)[f"worker-{victim}"], signal.SIGKILL)
    wait_for(lambda: not tcp_accepts(victim), 10, "the killed worker's port to close")
    pages = [p for p in pool.pages if p.found][:4]
    for page in pages:
        assert pool.ask(f"CHECK {page.url(pool.base_url)} {page.ad_id} {page.site_id}".encode()).startswith(b"200 OK")
    wait_for(lambda: jobs_done(pool) == 4, 60, "four results from the surviving worker")
    states = {w.worker_id: w.state for w in pool.status()}
    # unreachable once a job failed on it; dead once it missed its heartbeats (10 s)
    assert states[f"worker-{victim}"] in ("unreachable", "dead")
    assert states[f"worker-{pool.worker_ports[1]}"] == "idle"
    for page in pages:
        check_on_disk(pool, page)


def test_garbage_never_stops_the_orchestrator(pool: ScanPool) -> None:
    junk = [b"", b"\x00" * 50, os.urandom(1400), os.urandom(3000), b"CHECK", b"HITS 0",
            "CHECK http://h/\u00e9 AD S1".encode(), b"REGISTER a b c d", b"\r\n\r\n"]
    for datagram in junk:
        reply = pool.ask(datagram)
        assert reply.startswith(b"400 ERROR") and len(reply) <= 1024, (datagram[:20], reply)
    assert parse_hits(pool.ask(b"HITS")) == []
    assert len(pool.status()) == 2


def test_course_pages(group: ProcessGroup, tmp_path: Path) -> None:
    """The scan course's own test pages, served locally, through two workers."""
    base, site, pages = start_web(group, tmp_path, COURSE)
    orch_port = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch_port)
    ports = start_workers(group, orch_port, 2, tmp_path / "logs")
    pool = ScanPool(base, site, pages, orch_port, ports, tmp_path / "logs")
    for page in pages:
        assert pool.ask(f"CHECK {page.url(base)} {page.ad_id} {page.site_id}".encode()).startswith(b"200 OK")
    wait_for(lambda: jobs_done(pool) == len(pages), 60, "every course page scanned")
    for page in pages:
        check_on_disk(pool, page)


def test_worker_refuses_a_port_outside_the_range(tmp_path: Path) -> None:
    done = subprocess.run(
        [*twistd(), "-n", "--pidfile=", "worker", "8080", str(tmp_path / "logs"),
         LOOPBACK, LOOPBACK, "54000", "w1"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode != 0
    assert "PORT must be in 54000-54150, not 8080" in done.stdout + done.stderr


def test_launch_workers_stops_its_workers(group: ProcessGroup, tmp_path: Path) -> None:
    orch_port = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch_port)
    ports = start_workers(group, orch_port, 3, tmp_path / "logs")
    pids = worker_pids(group)
    assert len(pids) == 3
    launcher = group.processes["launch-workers"]
    launcher.send_signal(signal.SIGTERM)  # the launcher alone, not its process group
    assert launcher.wait(30) == 0
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection((LOOPBACK, port), timeout=1).close()
    assert all((tmp_path / "logs" / f"worker-{p}" / "_worker.log").exists() for p in ports)
