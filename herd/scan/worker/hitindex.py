"""The hit index: scans read back from workers' log directories, with filters.

Each worker's log directory holds ``_scans.jsonl`` (one record per scan, see
``herd.scan.worker.scanlog``); a worker without one (an older worker) is read from its
``SiteID/date-time/`` folders instead: a folder with files is a hit whose ad string is
unknown, an empty folder an unknown result. ``bin/index-hits`` formats what this finds.
"""

from __future__ import annotations

import calendar
import os
import re
import stat
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable, Iterator, Optional

from attrs import define

from herd.scan.worker.imagestore import INDEX_FILE
from herd.scan.worker.scanlog import SCANS_FILE, read_scans

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
