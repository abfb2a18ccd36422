"""A worker's scan log: one JSON line per finished scan in ``LOGDIR/_scans.jsonl``.

The name starts with ``_``, so it never collides with a SiteID folder (a SiteID starts with
a letter or a digit). A line looks like::

    {"time": 1795424703.0, "iso": "2026-11-24T09:05:03Z", "url": "http://...",
     "ad_id": "IRISH_CSE", "site_id": "S1", "result": "yes",
     "folder": "2026-11-24-09-05-03", "reason": null, "seconds": 0.42,
     "images": [{"file": "a.png", "url": "http://.../a.png", "bytes": 308,
                 "sha256": "...", "linked_to": "S1/2026-11-24-09-05-01/a.png"}],
     "failed_images": [{"url": "http://.../missing.png", "reason": "answered HTTP 404"}]}

``time`` is when the worker got the job (seconds since the epoch, UTC), ``seconds`` how long
the scan took. ``result`` is ``yes``, ``no`` or ``error``; ``folder`` is the scan's
``date-time`` folder under ``LOGDIR/<site_id>/`` (``null`` when none was created, e.g. the
page could not be fetched); ``reason`` explains an ``error``. ``linked_to`` is the first
copy of the same bytes (relative to LOGDIR) when the image was linked instead of written.

Each line is written whole with one ``write`` on a file opened for appending, so lines of
concurrent scans (one process, or several sharing a LOGDIR) never interleave. Readers skip
and count lines they cannot parse (a worker killed mid-write leaves a partial line).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from attrs import field, frozen

from herd.protocols.scan_replies import format_time

SCANS_FILE = "_scans.jsonl"
RESULTS = ("yes", "no", "error")


def append_json_line(path: Path, obj: object) -> None:
    """Append ``obj`` as one JSON line to ``path`` with a single ``write`` (creating it).

    If the file does not end with a newline (a writer died mid-line), a newline is written
    first so that the broken line does not swallow this one.
    """
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # cheap; only the last byte
            line = "\n" + line
        data = line.encode("ascii")  # json.dumps escapes everything else
        while data:
            written = os.write(fd, data)
            data = data[written:]
    finally:
        os.close(fd)


def read_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed object)`` for each line of ``path``; ``(n, None)`` for a bad one.

    Blank lines are skipped. Raises OSError if the file cannot be opened.
    """
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError
                yield number, None


@frozen
class ImageRecord:
    """One image saved by a scan."""

    file: str
    url: str
    bytes: int
    sha256: str
    linked_to: Optional[str] = None
    """The first copy of these bytes, relative to LOGDIR, when this file is a link to it."""

    @property
    def linked(self) -> bool:
        return self.linked_to is not None


@frozen
class FailedImage:
    """An image of a hit that was not saved, and why."""

    url: str
    reason: str


@frozen
class ScanRecord:
    """One finished scan, as logged in ``_scans.jsonl``."""

    time: float
    url: str
    ad_id: str
    site_id: str
    result: str
    folder: Optional[str] = None
    reason: Optional[str] = None
    seconds: Optional[float] = None
    images: tuple[ImageRecord, ...] = field(default=(), converter=tuple)
    failed_images: tuple[FailedImage, ...] = field(default=(), converter=tuple)

    @property
    def iso(self) -> str:
        return format_time(self.time)

    @property
    def linked_bytes(self) -> int:
        """Bytes linked instead of written: the disk de-duplication saved in this scan."""
        return sum(image.bytes for image in self.images if image.linked)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "iso": self.iso,
            "url": self.url,
            "ad_id": self.ad_id,
            "site_id": self.site_id,
            "result": self.result,
            "folder": self.folder,
            "reason": self.reason,
            "seconds": self.seconds,
            "images": [
                {"file": i.file, "url": i.url, "bytes": i.bytes, "sha256": i.sha256,
                 "linked_to": i.linked_to}
                for i in self.images
            ],
            "failed_images": [{"url": f.url, "reason": f.reason} for f in self.failed_images],
        }

    @classmethod
    def from_json(cls, obj: Any) -> "ScanRecord":
        """Parse one line's object; ValueError if it is not a scan record."""
        try:
            result = obj["result"]
            if result not in RESULTS:
                raise ValueError(f"bad result {result!r}")
            seconds = obj.get("seconds")
            return cls(
                time=_number(obj["time"]),
                url=_text(obj["url"]),
                ad_id=_text(obj["ad_id"]),
                site_id=_text(obj["site_id"]),
                result=result,
                folder=_optional_text(obj.get("folder")),
                reason=_optional_text(obj.get("reason")),
                seconds=None if seconds is None else _number(seconds),
                images=[
                    ImageRecord(
                        file=_text(i["file"]),
                        url=_text(i["url"]),
                        bytes=_count(i["bytes"]),
                        sha256=_text(i["sha256"]),
                        linked_to=_optional_text(i.get("linked_to")),
                    )
                    for i in obj.get("images") or ()
                ],
                failed_images=[
                    FailedImage(_text(f["url"]), _text(f["reason"]))
                    for f in obj.get("failed_images") or ()
                ],
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a scan record ({type(error).__name__}: {error})") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__}")
    return value


def _optional_text(value: Any) -> Optional[str]:
    return None if value is None else _text(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, not {type(value).__name__}")
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a byte count, not {value!r}")
    return value


class ScanLog:
    """Appends scan records to ``LOGDIR/_scans.jsonl``."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = Path(logdir)
        self.path = self.logdir / SCANS_FILE

    def append(self, record: ScanRecord) -> None:
        """Append one line; creates LOGDIR when missing. Raises OSError if it cannot."""
        try:
            append_json_line(self.path, record.to_json())
        except FileNotFoundError:
            self.logdir.mkdir(parents=True, exist_ok=True)
            append_json_line(self.path, record.to_json())


class ScanReader:
    """Iterates over the scan records of one log directory, skipping malformed lines.

    ``skipped`` counts the lines skipped so far. A missing ``_scans.jsonl`` gives no
    records; one that cannot be read raises OSError on the first ``next()``.
    """

    def __init__(self, logdir: Path) -> None:
        self.path = Path(logdir) / SCANS_FILE
        self.skipped = 0
        self._records = self._read()

    def __iter__(self) -> "ScanReader":
        return self

    def __next__(self) -> ScanRecord:
        return next(self._records)

    def _read(self) -> Iterator[ScanRecord]:
        try:
            lines = read_json_lines(self.path)
            for _, obj in lines:
                try:
                    if obj is None:
                        raise ValueError("not JSON")
                    record = ScanRecord.from_json(obj)
                except ValueError:
                    self.skipped += 1
                    continue
                yield record
        except FileNotFoundError:
            return


def read_scans(logdir: Path) -> ScanReader:
    """The scan records in ``logdir/_scans.jsonl``, oldest first; see ScanReader."""
    return ScanReader(logdir)
