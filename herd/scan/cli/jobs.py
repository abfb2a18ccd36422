"""``job-status ORCH_HOST ORCH_PORT ID`` and ``dead-letters ORCH_HOST ORCH_PORT [N]``.

The first prints one job's state (queued, running on which worker, done with which
result, given up with which reason); the second the last N jobs given up (the dead-letter
list), newest first.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from herd.protocols.scan_replies import format_time, parse_dead, parse_job
from herd.scan.cli.orchestrator_query import ask, ask_recent, orchestrator_parser


def job_status(argv: Optional[Sequence[str]] = None) -> int:
    """Print ``<id> <state> ...`` for one job; exit 1 if the orchestrator has no such job."""
    p = orchestrator_parser("job-status", "Show one job's state.")
    p.add_argument("job_id", metavar="ID", type=int)
    args = p.parse_args(argv)
    job = ask(args, b"JOB %d" % args.job_id, parse_job)
    if job is None:
        return 1
    print(job.to_line())
    return 0


def dead_letters(argv: Optional[Sequence[str]] = None) -> int:
    """Print the last N jobs given up: id, site, ad string, attempts, time, reason."""
    letters = ask_recent(argv, "dead-letters", "Show the jobs given up (the dead-letter list).",
                         "jobs", b"DEAD", parse_dead)
    if letters is None:
        return 1
    if not letters:
        print("no job given up")
    for d in letters:
        print(f"job {d.job_id} {d.site_id} {d.ad_id} attempts {d.attempts} {format_time(d.failed)} {d.reason}")
    return 0


if __name__ == "__main__":
    command = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    sys.exit({"job-status": job_status, "dead-letters": dead_letters}.get(command, lambda: 2)())
