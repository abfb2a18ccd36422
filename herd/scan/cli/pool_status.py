"""``pool-status ORCH_HOST ORCH_PORT``: the pool's workers as a table."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from herd.protocols.scan_replies import StatusPage, WorkerStatus, format_time, parse_status
from herd.scan.cli.udp_client import ClientError, query

COLUMNS = ("ID", "HOST", "PORT", "STATE", "RUNNING", "LAST JOB SENT", "LAST RESULT", "JOBS DONE")


def fetch_status(host: str, port: int, timeout: float) -> tuple[StatusPage, list[WorkerStatus]]:
    """Every page of the orchestrator's STATUS; the first page and all workers."""
    first = query(host, port, b"STATUS 1", timeout, parse_status)
    workers = list(first.workers)
    for page in range(2, first.pages + 1):
        workers.extend(query(host, port, b"STATUS %d" % page, timeout, parse_status).workers)
    return first, workers


def table(workers: Sequence[WorkerStatus]) -> str:
    """Workers as aligned columns under a header."""
    rows = [COLUMNS] + [
        (
            w.worker_id,
            w.host,
            str(w.port),
            w.state,
            f"{w.running}/{w.capacity}",
            format_time(w.last_sent),
            format_time(w.last_result),
            str(w.jobs_done),
        )
        for w in workers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the pool status; exit 1 when the orchestrator does not answer."""
    p = argparse.ArgumentParser(prog="pool-status", description="Show the scan pool's workers.")
    p.add_argument("host", metavar="ORCH_HOST")
    p.add_argument("port", metavar="ORCH_PORT", type=int)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply")
    args = p.parse_args(argv)
    try:
        first, workers = fetch_status(args.host, args.port, args.timeout)
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Pool at {args.host}:{args.port}: {len(workers)} worker(s), "
        f"{first.queued} job(s) queued. Times are UTC."
    )
    print(table(workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
