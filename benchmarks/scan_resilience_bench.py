"""Scan pool benchmark, part two: recovery after an orchestrator crash, and image de-duplication.

Everything runs on 127.0.0.1 in real processes (``twistd web``, ``twistd -n orchestrator``,
``twistd -n worker``), all stopped at the end, also on error or Ctrl-C.

1. Recovery: two workers, N CHECKs acknowledged, then ``kill -9`` of the orchestrator at
   once (so most jobs are still queued) and a restart on the same database. Reported: the
   time from the restart to the first result (the workers must show they are alive with a
   heartbeat), and to all N jobs done; and that each job was done exactly once.
2. De-duplication: the same M scans of the demo's big page (13 images, the same bytes each
   time) on two workers with de-duplication on, then off (``--no-dedup``). Reported: jobs
   per second and the bytes the scan folders take on disk (hard links counted once).

Run from the repository root:

    .venv/bin/python benchmarks/scan_resilience_bench.py            # N=300, M=300
    .venv/bin/python benchmarks/scan_resilience_bench.py --quick    # N=100, M=60
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import twisted

from herd.core.launcher import twistd_command as twistd
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, free_port_run, wait_for
from herd.scan.cli.udp_client import ask
from herd.testing.scan import start_orchestrator, start_web, start_workers


def done_jobs(db: Path) -> tuple[int, int]:
    """(jobs done, distinct ids done), read from the orchestrator's database."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM jobs WHERE state='done'").fetchone()


def send(port: int, lines: list[bytes]) -> None:
    for line in lines:
        if not ask(LOOPBACK, port, line, 5.0).startswith(b"200 OK"):
            raise RuntimeError("a CHECK was not acknowledged")


def recovery(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="herd-bench-recovery-") as tmp, \
            ProcessGroup(Path(tmp) / "processes") as group:
        base, _, pages = start_web(group, Path(tmp))
        orch = free_port(socket.SOCK_DGRAM)
        start_orchestrator(group, orch)
        start_workers(group, orch, 2, Path(tmp) / "logs")
        page = next(p for p in pages if p.page == "ad-comment.html")
        send(orch, [f"CHECK {page.url(base)} {page.ad_id} R{i % 30}".encode() for i in range(n)])
        group.stop("orchestrator", signal.SIGKILL)
        db = group.logs / "orchestrator.sqlite"
        before = done_jobs(db)[0]
        started = time.perf_counter()
        start_orchestrator(group, orch)
        wait_for(lambda: done_jobs(db)[0] > before, 60, "a first result after the restart", every=0.01)
        first = time.perf_counter() - started
        wait_for(lambda: done_jobs(db)[0] == n, 300, "every job done", every=0.02)
        total = time.perf_counter() - started
        done, distinct = done_jobs(db)
    return {"jobs": n, "unfinished_at_kill": n - before, "first_result_s": first, "all_done_s": total,
            "done": done, "distinct": distinct}


def disk_usage(root: Path) -> int:
    """Bytes of the regular files under ``root``, each inode counted once."""
    seen, total = set(), 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and not path.name.startswith("_"):
            stat = path.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def dedup(m: int, enabled: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="herd-bench-dedup-") as tmp, \
            ProcessGroup(Path(tmp) / "processes") as group:
        base, _, pages = start_web(group, Path(tmp))
        orch = free_port(socket.SOCK_DGRAM)
        start_orchestrator(group, orch)
        first = free_port_run(2)
        logs = Path(tmp) / "logs"
        for port in (first, first + 1):
            group.start(f"worker-{port}", [
                *twistd(), "-n", "--pidfile=", "worker", "--interface", LOOPBACK,
                *([] if enabled else ["--no-dedup"]),
                str(port), str(logs / f"worker-{port}"), LOOPBACK, LOOPBACK, str(orch), f"worker-{port}"])
        wait_for(lambda: ask(LOOPBACK, orch, b"STATUS", 2).count(b" idle ") == 2, 30, "two workers")
        page = next(p for p in pages if p.page == "big-absolute.html")
        started = time.perf_counter()
        send(orch, [f"CHECK {page.url(base)} {page.ad_id} D{i % 10}".encode() for i in range(m)])
        db = group.logs / "orchestrator.sqlite"
        wait_for(lambda: done_jobs(db)[0] == m, 600, f"{m} jobs done", every=0.02)
        elapsed = time.perf_counter() - started
        return {"dedup": enabled, "jobs": m, "seconds": elapsed, "jobs_per_s": m / elapsed,
                "disk_bytes": disk_usage(logs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, m = (100, 60) if args.quick else (300, 300)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.time()
    r = recovery(n)
    on, off = dedup(m, True), dedup(m, False)
    print(f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, Twisted {twisted.__version__}")
    print(f"Command: `{shlex.join(['.venv/bin/python', *sys.argv])}` (total {time.time() - began:.0f} s)\n")
    print("| Benchmark | Setting | Result |")
    print("|---|---|---|")
    print(f"| Recovery after kill -9 of the orchestrator | {r['jobs']} jobs acknowledged, "
          f"{r['unfinished_at_kill']} unfinished | first result {r['first_result_s']:.2f} s after the restart, "
          f"all done after {r['all_done_s']:.2f} s; done {r['done']}, distinct {r['distinct']} |")
    for x in (on, off):
        print(f"| Jobs/s, de-duplication {'on' if x['dedup'] else 'off'} | {x['jobs']} scans of a "
              f"13-image page, 2 workers | {x['jobs_per_s']:.1f} jobs/s, {x['disk_bytes'] / 1e6:.2f} MB on disk |")
    saved = off["disk_bytes"] - on["disk_bytes"]
    print(f"\nDe-duplication saved {saved / 1e6:.2f} MB ({100 * saved / max(1, off['disk_bytes']):.0f}%).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
