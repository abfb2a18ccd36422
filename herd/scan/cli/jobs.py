"""``job-status ORCH_HOST ORCH_PORT ID`` and ``dead-letters ORCH_HOST ORCH_PORT [N]``.

The first prints one job's state (queued, running on which worker, done with which
result, given up with which reason); the second the last N jobs given up (the dead-letter
list), newest first.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from herd.protocols.scan import MAX_HITS
from herd.protocols.scan_replies import format_time, parse_dead
from herd.scan.cli.udp_client import ClientError, query


def _orchestrator(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("host", metavar="ORCH_HOST")
    p.add_argument("port", metavar="ORCH_PORT", type=int)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the reply")
    return p


def _job_line(reply: bytes) -> str:
    text = reply.decode("ascii", "replace").strip()
    if not text.startswith("200 JOB "):
        raise ValueError(text)
    return text[len("200 JOB "):]


def job_status(argv: Optional[Sequence[str]] = None) -> int:
    """Print ``<id> <state> ...`` for one job; exit 1 if the orchestrator has no such job."""
    p = _orchestrator("job-status", "Show one job's state.")
    p.add_argument("job_id", metavar="ID", type=int)
    args = p.parse_args(argv)
    try:
        print(query(args.host, args.port, b"JOB %d" % args.job_id, args.timeout, _job_line))
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def dead_letters(argv: Optional[Sequence[str]] = None) -> int:
    """Print the last N jobs given up: id, site, ad string, attempts, time, reason."""
    p = _orchestrator("dead-letters", "Show the jobs given up (the dead-letter list).")
    p.add_argument("count", metavar="N", type=int, nargs="?", default=MAX_HITS)
    args = p.parse_args(argv)
    if not 1 <= args.count <= MAX_HITS:
        p.error(f"N must be from 1 to {MAX_HITS}")
    try:
        letters = query(args.host, args.port, b"DEAD %d" % args.count, args.timeout, parse_dead)
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not letters:
        print("no job given up")
    for d in letters:
        print(f"job {d.job_id} {d.site_id} {d.ad_id} attempts {d.attempts} {format_time(d.failed)} {d.reason}")
    return 0


if __name__ == "__main__":
    command = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    sys.exit({"job-status": job_status, "dead-letters": dead_letters}.get(command, lambda: 2)())
