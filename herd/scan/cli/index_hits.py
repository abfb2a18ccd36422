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
import calendar
import csv
import io
import json
import os
import re
import stat
import sys
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from attrs import define

from herd.protocols.scan_replies import format_time
from herd.scan.imagestore import INDEX_FILE, human_bytes
from herd.scan.scanlog import SCANS_FILE, read_scans

PROG = "index-hits"
UNKNOWN = "unknown"
_MARKERS = (SCANS_FILE, INDEX_FILE, "_worker.log")
_FOLDER = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})(?:-\d+)?$")
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)\s*([smhdw])$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

Warn = Callable[[str], None]


class UsageProblem(Exception):
    """A bad argument: reported on stderr, exit status 2."""


@define
class Row:
    """One scan as listed."""

    time: float
    worker: str
    logdir: Path
    site: str
    ad: Optional[str]  # None: unknown (indexed from folders)
    result: str  # yes, no, error, unknown
    url: Optional[str] = None
    folder: Optional[Path] = None
    images: Optional[int] = None
    linked: Optional[int] = None
    bytes_saved: Optional[int] = None
    reason: Optional[str] = None


@define
class TimeBound:
    """``--since``/``--until``: an instant and how long the text's precision spans."""

    start: float
    span: float  # 0 for an exact instant


def parse_time(text: str, now: float) -> TimeBound:
    """ISO 8601 (UTC unless an offset is given) or relative (``-10m``) → TimeBound."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return TimeBound(now - float(relative.group(1)) * _UNITS[relative.group(2).lower()], 0.0)
    match = _ISO.match(text)
    if not match:
        raise UsageProblem(
            f"bad time {text!r}: use ISO 8601 UTC (2026-11-24T09:05:03Z, 2026-11-24) "
            "or a relative time (-10m, -2h, -1d)"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    fields = (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    try:
        when = calendar.timegm(fields)
        # timegm takes 2026-02-31 and 25:00 for later dates and times: they must round-trip
        if tuple(time.gmtime(when)[:6]) != fields:
            raise ValueError
    except (ValueError, OverflowError):
        raise UsageProblem(f"bad time {text!r}: no such date or time") from None
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        when -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    if fraction:
        return TimeBound(when + float(fraction), 0.0)
    span = 1.0 if second else 60.0 if minute else 86400.0
    return TimeBound(float(when), span)


@define
class Filters:
    sites: list[str]
    ads: list[str]
    workers: list[str]
    since: Optional[TimeBound]
    until: Optional[TimeBound]
    everything: bool

    def accept(self, row: Row) -> bool:
        if not self.everything and row.result != "yes":
            return False
        if self.since is not None and row.time < self.since.start:
            return False
        if self.until is not None:
            end = self.until.start + self.until.span
            if (row.time >= end) if self.until.span else (row.time > end):
                return False
        return (
            _matches(row.site, self.sites)
            and _matches(row.ad, self.ads)
            and _matches(row.worker, self.workers)
        )


def _matches(value: Optional[str], patterns: list[str]) -> bool:
    if not patterns:
        return True
    if value is None:
        return False
    return any(value == p or fnmatchcase(value, p) for p in patterns)


# -- finding the workers' log directories ----------------------------------------------


def _has_marker(path: Path) -> bool:
    return any((path / name).exists() for name in _MARKERS)


def _subdirs(path: Path) -> list[Path]:
    try:
        children = sorted(path.iterdir())
    except OSError:
        return []
    return [c for c in children if not c.name.startswith((".", "_")) and c.is_dir()]


def _has_scan_folders(path: Path) -> bool:
    return any(_FOLDER.match(f.name) for site in _subdirs(path) for f in _subdirs(site))


def _looks_like_worker(path: Path) -> bool:
    return _has_marker(path) or _has_scan_folders(path)


def worker_dirs(path: Path) -> list[Path]:
    """The workers' log directories that ``path`` is, or holds."""
    if not path.is_dir():
        raise UsageProblem(f"no such directory: {path}")
    if _looks_like_worker(path):
        return [path]
    return [c for c in _subdirs(path) if _looks_like_worker(c)] or [path]


def _worker_id(path: Path) -> str:
    return path.name or Path(os.path.abspath(path)).name


# -- reading one worker's log directory --------------------------------------------------


def _folder_time(name: str) -> Optional[float]:
    match = _FOLDER.match(name)
    if not match:
        return None
    try:
        return float(calendar.timegm(tuple(map(int, match.groups()[:6]))))
    except (ValueError, OverflowError):
        return None


def read_worker(logdir: Path, warn: Warn) -> list[Row]:
    """Every scan of one worker's log directory: from its scan log, and its older folders."""
    worker = _worker_id(logdir)
    rows: list[Row] = []
    logged: set[tuple[str, str]] = set()
    first_logged: Optional[float] = None
    reader = read_scans(logdir)
    try:
        for record in reader:
            if first_logged is None or record.time < first_logged:
                first_logged = record.time
            if record.folder is not None:
                logged.add((record.site_id, record.folder))
            rows.append(
                Row(
                    time=record.time,
                    worker=worker,
                    logdir=logdir,
                    site=record.site_id,
                    ad=record.ad_id,
                    result=record.result,
                    url=record.url,
                    folder=logdir / record.site_id / record.folder if record.folder else None,
                    images=len(record.images) if record.result == "yes" else None,
                    linked=sum(1 for i in record.images if i.linked) if record.result == "yes" else None,
                    bytes_saved=record.linked_bytes if record.result == "yes" else None,
                    reason=record.reason,
                )
            )
    except OSError as error:
        warn(f"cannot read {reader.path}: {error.strerror or error}")
    if reader.skipped:
        warn(f"{reader.path}: skipped {reader.skipped} malformed line(s)")
    has_log = (logdir / SCANS_FILE).exists()
    if has_log and first_logged is None:
        return rows
    # Folders without a record: all of them for an older worker; with a scan log, only
    # those from before its first record (a folder being filled now has no record yet).
    before = None if not has_log else float(int(first_logged))  # folder names drop fractions
    rows.extend(_walk_folders(logdir, worker, logged, before))
    return rows


def _walk_folders(
    logdir: Path, worker: str, logged: set[tuple[str, str]], before: Optional[float]
) -> Iterator[Row]:
    found = []
    for site in _subdirs(logdir):
        for folder in _subdirs(site):
            when = _folder_time(folder.name)
            if when is None or (site.name, folder.name) in logged:
                continue
            if before is not None and when >= before:
                continue
            found.append((when, folder.name, site.name, folder))
    seen_inodes: set[tuple[int, int]] = set()
    for when, _, site_name, folder in sorted(found):  # oldest first: first copies first
        images = linked = saved = 0
        try:
            files = sorted(folder.iterdir())
        except OSError:
            files = []
        for file in files:
            try:
                info = file.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                images += 1
                linked += 1
                try:
                    saved += file.stat().st_size
                except OSError:
                    pass  # a dangling link: its first copy is gone
            elif stat.S_ISREG(info.st_mode):
                images += 1
                inode = (info.st_dev, info.st_ino)
                if info.st_nlink > 1 and inode in seen_inodes:
                    linked += 1
                    saved += info.st_size
                seen_inodes.add(inode)
        yield Row(
            time=when,
            worker=worker,
            logdir=logdir,
            site=site_name,
            ad=None,
            result="yes" if images else UNKNOWN,
            folder=folder,
            images=images if images else None,
            linked=linked if images else None,
            bytes_saved=saved if images else None,
        )



# -- output ------------------------------------------------------------------------------


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
