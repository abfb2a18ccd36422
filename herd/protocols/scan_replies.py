"""The scan pool's replies: acknowledgements, job results, pool status and hits.

Every reply is ASCII, ends with a newline and fits in ``MAX_REPLY`` bytes::

    200 OK [<job id>]
    400 ERROR <reason>                    (also 403 ERROR, 404 UNKNOWN, 500 ERROR, 503 BUSY, ...)
    200 YES <SiteID> <date-time>          (a worker's result: ad found, images saved)
    200 NO                                (a worker's result: ad not found)
    200 STATUS page <p>/<pages> workers <total> queued <jobs waiting>
    <id> <host> <port> <last sent> <last result> <state> <jobs done> <running>/<capacity>
    200 HITS <count>
    <worker id> <site id> <ad id> <fetch time> <folder>                   (newest first)
    200 JOB <id> <state> ...
    200 DEAD <count>
    <job id> <site id> <ad id> <attempts> <time> <reason>                 (newest first)

Times are ISO 8601 in UTC (``2026-11-24T09:05:03Z``), ``-`` when there is none yet.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Iterable, Optional, Sequence, Union

from attrs import frozen

from herd.protocols.scan import MAX_REPLY, ProtocolError, decode_message

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

NEVER = "-"

UNKNOWN = "404 UNKNOWN"
"""The code that tells a worker the orchestrator does not know it (it registers again)."""


def format_time(when: Optional[float]) -> str:
    """Seconds since the epoch as ISO 8601 UTC, or ``-`` for None."""
    if when is None:
        return NEVER
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def parse_time(text: str) -> Optional[float]:
    """The inverse of ``format_time``."""
    if text == NEVER:
        return None
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        raise ProtocolError(f"bad time {text[:30]!r}") from None


def format_ok(job_id: Optional[int] = None) -> bytes:
    """``200 OK`` with an optional job id."""
    return b"200 OK\n" if job_id is None else b"200 OK %d\n" % job_id


def format_error(reason: str, code: str = "400 ERROR") -> bytes:
    """An error reply; the reason is made ASCII and cut to fit ``MAX_REPLY``."""
    reason = " ".join(reason.encode("ascii", "replace").decode("ascii").split())
    reason = _CONTROL.sub("?", reason)
    line = f"{code} {reason}"[: MAX_REPLY - 1]
    return line.encode("ascii") + b"\n"


@frozen
class Ack:
    """``200 OK [<job id>]``: the request was taken (a CHECK's job id)."""

    job_id: Optional[int] = None


@frozen
class Refusal:
    """Any other answer to a request: its code (``400 ERROR``, ``404 UNKNOWN``, ...) and why."""

    code: str
    reason: str


def parse_ack(data: bytes) -> Union[Ack, Refusal]:
    """Parse the answer to a CHECK, REGISTER or HEARTBEAT; ProtocolError if it is neither."""
    fields = decode_message(data, MAX_REPLY)
    if fields[:2] == ["200", "OK"] and len(fields) <= 3:
        if len(fields) == 2:
            return Ack()
        if fields[2].isdigit():
            return Ack(int(fields[2]))
    elif len(fields) >= 2 and fields[0].isdigit() and len(fields[0]) == 3 and fields[0] != "200":
        return Refusal(f"{fields[0]} {fields[1]}", " ".join(fields[2:]))
    raise ProtocolError(f"not an answer to a request: {' '.join(fields)[:80]!r}")


@frozen
class Found:
    """The ad string was found and the page's images were saved in ``folder``."""

    site_id: str
    folder: str


@frozen
class NotFound:
    """The ad string was not found on the page."""


@frozen
class Failed:
    """The job could not be done; ``reason`` says why."""

    reason: str


Result = Union[Found, NotFound, Failed]


def format_result(result: Result) -> bytes:
    """A worker's one-line answer to a CHECK."""
    if isinstance(result, Found):
        return f"200 YES {result.site_id} {result.folder}\n".encode("ascii")
    if isinstance(result, NotFound):
        return b"200 NO\n"
    return format_error(result.reason)


def parse_result(data: bytes) -> Result:
    """Parse a worker's answer; raise ProtocolError if it is none of the three forms."""
    fields = decode_message(data, MAX_REPLY)
    if fields[:2] == ["200", "YES"] and len(fields) == 4:
        return Found(fields[2], fields[3])
    if fields == ["200", "NO"]:
        return NotFound()
    if fields[:2] == ["400", "ERROR"]:
        return Failed(" ".join(fields[2:]) or "unspecified error")
    raise ProtocolError(f"unexpected answer from worker: {' '.join(fields)[:80]!r}")


@frozen
class WorkerStatus:
    """One worker as pool status shows it."""

    worker_id: str
    host: str
    port: int
    last_sent: Optional[float]
    last_result: Optional[float]
    state: str
    jobs_done: int
    running: int = 0
    capacity: int = 1

    def to_line(self) -> str:
        return " ".join(
            (
                self.worker_id,
                self.host,
                str(self.port),
                format_time(self.last_sent),
                format_time(self.last_result),
                self.state,
                str(self.jobs_done),
                f"{self.running}/{self.capacity}",
            )
        )


def paginate(lines: Sequence[str], header_room: int = 64) -> list[list[str]]:
    """Split ``lines`` greedily into pages that fit one reply next to a header."""
    pages: list[list[str]] = [[]]
    used = header_room
    for line in lines:
        size = len(line) + 1
        if pages[-1] and used + size > MAX_REPLY:
            pages.append([])
            used = header_room
        pages[-1].append(line)
        used += size
    return pages


def format_status(workers: Sequence[WorkerStatus], page: int, queued: int) -> bytes:
    """Page ``page`` (1-based) of the pool status; a page past the end is an error."""
    pages = paginate([w.to_line() for w in workers])
    if not 1 <= page <= len(pages):
        return format_error(f"no page {page}: the status has {len(pages)} page(s)")
    header = f"200 STATUS page {page}/{len(pages)} workers {len(workers)} queued {queued}"
    return "\n".join([header, *pages[page - 1]]).encode("ascii") + b"\n"


@frozen
class StatusPage:
    """One parsed STATUS reply."""

    page: int
    pages: int
    total: int
    queued: int
    workers: list[WorkerStatus]


def parse_status(data: bytes) -> StatusPage:
    """Parse a STATUS reply (as the pool-status script does)."""
    header, *rows = _reply_lines(data)
    fields = header.split()
    if (
        len(fields) != 8
        or fields[:3] != ["200", "STATUS", "page"]
        or fields[4::2] != ["workers", "queued"]
    ):
        raise ProtocolError(f"not a STATUS reply: {header[:80]!r}")
    page, _, pages = fields[3].partition("/")
    workers = []
    for row in rows:
        f = row.split()
        if len(f) not in (7, 8):
            raise ProtocolError(f"bad status line {row[:80]!r}")
        running, _, capacity = (f[7] if len(f) == 8 else "0/1").partition("/")
        workers.append(
            WorkerStatus(f[0], f[1], int(f[2]), parse_time(f[3]), parse_time(f[4]), f[5], int(f[6]),
                         int(running), int(capacity or 1))
        )
    return StatusPage(int(page), int(pages), int(fields[5]), int(fields[7]), workers)


@frozen
class Hit:
    """A job whose page held the ad string."""

    worker_id: str
    site_id: str
    ad_id: str
    fetched: float
    folder: str

    def to_line(self) -> str:
        return " ".join(
            (self.worker_id, self.site_id, self.ad_id, format_time(self.fetched), self.folder)
        )


def format_hits(hits: Iterable[Hit]) -> bytes:
    """The HITS reply for ``hits``, given newest first."""
    lines = [hit.to_line() for hit in hits]
    return "\n".join([f"200 HITS {len(lines)}", *lines]).encode("ascii") + b"\n"


def parse_hits(data: bytes) -> list[Hit]:
    """Parse a HITS reply (as the check-hits script does)."""
    header, *rows = _reply_lines(data)
    fields = header.split()
    if fields[:2] != ["200", "HITS"] or fields[2:] != [str(len(rows))]:
        raise ProtocolError(f"not a HITS reply: {header[:80]!r}")
    hits = []
    for row in rows:
        f = row.split()
        if len(f) != 5:
            raise ProtocolError(f"bad hit line {row[:80]!r}")
        fetched = parse_time(f[3])
        hits.append(Hit(f[0], f[1], f[2], fetched if fetched is not None else 0.0, f[4]))
    return hits


def _reply_lines(data: bytes) -> list[str]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("reply is not ASCII") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ProtocolError("empty reply")
    if lines[0].startswith("400 ERROR"):
        raise ProtocolError(lines[0][len("400 ERROR"):].strip() or "error")
    return lines


def format_job(job_id: int, state: str, words: Sequence[str]) -> bytes:
    """``200 JOB <id> <state> ...``: one job's state, cut to fit a reply."""
    line = " ".join(["200 JOB", str(job_id), state, *words])
    line = _CONTROL.sub("?", line.encode("ascii", "replace").decode("ascii"))
    return line[: MAX_REPLY - 1].encode("ascii") + b"\n"


@frozen
class JobState:
    """One parsed JOB reply: the job, its state and the rest of the line."""

    job_id: int
    state: str  # queued, running, done, dead
    detail: str  # "attempts <n>", "<worker> attempt <n> since <time>", "<worker> YES ...", ...

    def to_line(self) -> str:
        """The reply without its ``200 JOB``: ``<id> <state> <detail>``."""
        return f"{self.job_id} {self.state} {self.detail}".rstrip()


def parse_job(data: bytes) -> JobState:
    """Parse a JOB reply; a reply that is not one (``404 ERROR no job 7``) is a ProtocolError
    whose text is the reply."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ProtocolError("reply is not ASCII") from None
    fields = text.split(" ", 4)
    if len(fields) < 4 or fields[:2] != ["200", "JOB"] or not fields[2].isdigit():
        raise ProtocolError(text[:MAX_REPLY])
    return JobState(int(fields[2]), fields[3], fields[4] if len(fields) > 4 else "")


@frozen
class DeadLetter:
    """A job given up, as the DEAD reply lists it."""

    job_id: int
    site_id: str
    ad_id: str
    attempts: int
    failed: float
    reason: str


def format_dead(letters: Sequence[DeadLetter]) -> bytes:
    """The DEAD reply: ``200 DEAD <count>`` then ``<id> <site> <ad> <attempts> <time> <reason>``.

    Reasons are cut so that every line fits; ``JOB <id>`` tells more of one job.
    """
    room = (MAX_REPLY - 16) // max(1, len(letters))
    lines = []
    for d in letters:
        head = f"{d.job_id} {d.site_id} {d.ad_id} {d.attempts} {format_time(d.failed)} "
        reason = " ".join(d.reason.encode("ascii", "replace").decode("ascii").split())
        lines.append((head + _CONTROL.sub("?", reason))[: room - 1])
    return "\n".join([f"200 DEAD {len(lines)}", *lines]).encode("ascii") + b"\n"


def parse_dead(data: bytes) -> list[DeadLetter]:
    """Parse a DEAD reply."""
    header, *rows = _reply_lines(data)
    if header.split() != ["200", "DEAD", str(len(rows))]:
        raise ProtocolError(f"not a DEAD reply: {header[:80]!r}")
    letters = []
    for row in rows:
        f = row.split(" ", 5)
        if len(f) < 5:
            raise ProtocolError(f"bad dead-letter line {row[:80]!r}")
        failed = parse_time(f[4])
        letters.append(DeadLetter(int(f[0]), f[1], f[2], int(f[3]), failed or 0.0, f[5] if len(f) > 5 else ""))
    return letters
