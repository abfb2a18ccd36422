"""``index-hits LOGDIR... [filters] [--format table|csv|json] [--all]``: hits in log directories.

Each LOGDIR is one worker's log directory (``logs/worker-54001``) or a directory holding
workers' log directories (``logs``). The worker id shown is the directory's name. Hits come
from each worker's scan log ``_scans.jsonl``; a worker without one (an older worker) is
indexed from its ``SiteID/date-time/`` folders instead: a folder with files is a hit whose
ad string is unknown (``?``), an empty folder an unknown result (a NO, or a hit whose
images all failed), listed with ``--all`` only. Folders older than a worker's first scan
record (written before it had a scan log) are indexed the same way.

Filters: ``--site``, ``--ad``, ``--worker`` (each repeatable, exact or a shell pattern like
``'S*'``), ``--since``/``--until`` (ISO 8601 UTC, ``2026-11-24T09:05:03Z``, ``2026-11-24``, or
relative, ``-10m``, ``-2h``, ``-1d``). A time given to the minute or the day covers that whole
minute or day: ``--since 2026-11-24 --until 2026-11-24`` is that day.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from herd.protocols.scan_replies import format_time
from herd.scan.worker.hitindex import (
    UNKNOWN,
    Filters,
    Row,
    UsageProblem,
    parse_time,
    read_worker,
    worker_dirs,
)
from herd.scan.worker.imagestore import human_bytes

PROG = "index-hits"

def _shown_folder(folder: Optional[Path], cwd: Path) -> Optional[str]:
    if folder is None:
        return None
    absolute = Path(os.path.abspath(folder))
    try:
        return str(absolute.relative_to(cwd))
    except ValueError:
        return str(absolute)


def _images_cell(row: Row) -> str:
    if row.images is None:
        return "-"
    if row.linked:
        return f"{row.images} ({row.linked} linked)"
    return str(row.images)


def _table(rows: list[Row], everything: bool, cwd: Path) -> str:
    headers = ["time (UTC)", "worker", "site", "ad"]
    if everything:
        headers.append("result")
    headers += ["images", "folder or reason" if everything else "folder"]
    lines = [headers]
    for row in rows:
        cells = [format_time(row.time), row.worker, row.site, row.ad if row.ad is not None else "?"]
        if everything:
            cells.append(row.result)
        cells.append(_images_cell(row))
        last = _shown_folder(row.folder, cwd)
        if row.result == "error" and row.reason:
            last = row.reason if last is None else f"{last}: {row.reason}"
        cells.append(last or "-")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers) - 1)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1] + "\n"
        for line in lines
    )


def _summary(rows: list[Row], total: int, everything: bool) -> str:
    hits = [r for r in rows if r.result == "yes"]
    images = sum(r.images or 0 for r in hits)
    linked = sum(r.linked or 0 for r in hits)
    saved = sum(r.bytes_saved or 0 for r in hits)
    if everything:
        counts = {result: sum(1 for r in rows if r.result == result) for result in ("yes", "no", "error", UNKNOWN)}
        head = f"{len(rows)} scan(s): " + ", ".join(f"{n} {result}" for result, n in counts.items() if n)
    else:
        head = f"{len(hits)} hit(s)"
    if total > len(rows):
        head += f" (the newest {len(rows)} of {total})"
    workers = len({(r.worker, r.logdir) for r in rows})
    return (
        f"{head} from {workers} worker(s); {images} image(s), {linked} linked; "
        f"{human_bytes(saved)} saved by de-duplication\n"
    )


def _records(rows: list[Row], cwd: Path) -> list[dict]:
    return [
        {
            "time": format_time(row.time),
            "epoch": row.time,
            "worker": row.worker,
            "site": row.site,
            "ad": row.ad,
            "result": row.result,
            "url": row.url,
            "folder": _shown_folder(row.folder, cwd),
            "images": row.images,
            "linked": row.linked,
            "bytes_saved": row.bytes_saved,
            "reason": row.reason,
        }
        for row in rows
    ]


def _csv(rows: list[Row], cwd: Path) -> str:
    records = _records(rows, cwd)
    out = io.StringIO()
    fields = ["time", "epoch", "worker", "site", "ad", "result", "url", "folder", "images",
              "linked", "bytes_saved", "reason"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue()


# -- command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        allow_abbrev=False,
        description="List the hits recorded in workers' log directories, newest first.",
        epilog=(
            "Times: ISO 8601 UTC (2026-11-24T09:05:03Z, 2026-11-24T09:05, 2026-11-24) or "
            "relative to now (-30s, -10m, -2h, -1d, -1w); a time given to the minute or the "
            "day covers that whole minute or day. --site, --ad and --worker may be repeated "
            "and take exact values or shell patterns ('S*')."
        ),
    )
    p.add_argument("logdirs", metavar="LOGDIR", nargs="+", type=Path,
                   help="a worker's log directory, or a directory of them (e.g. logs)")
    p.add_argument("--site", action="append", default=[], metavar="S", help="only this SiteID")
    p.add_argument("--ad", action="append", default=[], metavar="A", help="only this ad string")
    p.add_argument("--worker", action="append", default=[], metavar="W", help="only this worker id")
    p.add_argument("--since", metavar="T", help="only scans at or after T")
    p.add_argument("--until", metavar="T", help="only scans at or before T")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--all", action="store_true", dest="everything",
                   help="list every scan (no, error, unknown results too), not only hits")
    p.add_argument("--limit", type=int, default=0, metavar="N",
                   help="only the newest N (default: all)")
    return p


def _join_time_options(argv: Sequence[str]) -> list[str]:
    """``--since -10m`` → ``--since=-10m`` (argparse takes ``-10m`` for an option)."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] in ("--since", "--until") and i + 1 < len(args):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
            continue
        if args[i] == "--":
            out.extend(args[i:])
            break
        out.append(args[i])
        i += 1
    return out


def main(argv: Optional[Sequence[str]] = None, now: Optional[float] = None) -> int:
    """Print the hits (or every scan, ``--all``) of the given log directories."""
    parser = _parser()
    try:
        args = parser.parse_args(_join_time_options(sys.argv[1:] if argv is None else argv))
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return int(stop.code or 0)
    now = time.time() if now is None else now
    try:
        if args.limit < 0:
            raise UsageProblem("--limit must be 0 (all) or more")
        since = parse_time(args.since, now) if args.since is not None else None
        until = parse_time(args.until, now) if args.until is not None else None
        if since is not None and until is not None:
            end = until.start + until.span
            if (since.start >= end) if until.span else (since.start > end):
                raise UsageProblem("--since is after --until")
        workers: list[Path] = []
        seen: set[str] = set()
        for logdir in args.logdirs:
            for worker in worker_dirs(logdir):
                key = os.path.realpath(worker)
                if key not in seen:
                    seen.add(key)
                    workers.append(worker)
    except UsageProblem as problem:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2

    problems: list[str] = []

    def warn(message: str) -> None:
        problems.append(message)
        print(f"{PROG}: warning: {message}", file=sys.stderr)

    filters = Filters(args.site, args.ad, args.worker, since, until, args.everything)
    rows = [row for worker in workers for row in read_worker(worker, warn) if filters.accept(row)]
    rows.sort(key=lambda r: (r.time, r.worker, r.site, str(r.folder or "")), reverse=True)
    total = len(rows)
    if args.limit:
        rows = rows[: args.limit]
    cwd = Path(os.path.abspath(os.getcwd()))
    if args.format == "json":
        output = json.dumps(_records(rows, cwd), indent=2) + "\n"
    elif args.format == "csv":
        output = _csv(rows, cwd)
    elif rows:
        output = _table(rows, args.everything, cwd) + _summary(rows, total, args.everything)
    else:
        what = "scans" if args.everything else "hits"
        output = f"no {what} found in {len(workers)} worker log director{'y' if len(workers) == 1 else 'ies'}\n"
    try:
        sys.stdout.write(output)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. | head
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 1 if any(p.startswith("cannot read") for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main())
