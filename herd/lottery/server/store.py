"""The lottery's store on disk: blocking file I/O, run off the reactor thread.

A store is a directory holding:

- ``bets.csv``: one row per bet, the course's format
  (``agency,first name,last name,document,birth date,number``), appended and fsynced before
  any acknowledgement;
- ``agencies.csv``: one row ``agency,total`` per agency that sent BET_BATCH_END, appended
  and fsynced after its bets;
- ``draw.json``: the draw, written once (temporary file, fsync, rename, fsync of the
  directory), so a restarted server neither draws again nor changes its answers.

A crash can leave a last line without its newline (a write torn by a power cut): it was
never acknowledged, and ``recover`` cuts it off.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Optional

from attrs import define, field

BETS = "bets.csv"
AGENCIES = "agencies.csv"
DRAW = "draw.json"


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if '"' in value else value


def bet_row(agency: int, first: str, last: str, document: str, birthdate: str, number: int) -> bytes:
    """A bet's line in ``bets.csv`` (CSV; names never hold commas or control characters)."""
    return (
        f"{agency},{_quoted(first)},{_quoted(last)},{document},{birthdate},{number}\n"
    ).encode("utf-8")


@define
class Recovered:
    """What a store holds when the server starts."""

    counts: dict[int, int] = field(factory=dict)
    """Bets stored per agency."""
    rows: set[bytes] = field(factory=set)
    """Every stored line, to store a resent bet only once."""
    winners: dict[int, list[str]] = field(factory=dict)
    """Documents of the winning bets per agency, in the order they were stored."""
    ended: dict[int, int] = field(factory=dict)
    """Agencies that have ended, with the total they were acknowledged."""
    draw: Optional[dict[int, list[str]]] = None
    """The draw's winners per agency, once it has happened."""
    cut: int = 0
    """Bytes of a torn last line cut off ``bets.csv``."""


class BetStore:
    """Append-only files of one store directory, each write made durable before it returns."""

    def __init__(self, directory: Path, winning_number: int) -> None:
        self.directory = Path(directory)
        self.winning_number = winning_number
        self._bets: Optional[int] = None
        self._agencies: Optional[int] = None

    def recover(self) -> Recovered:
        """Open (creating) the store and read back what it holds."""
        self.directory.mkdir(parents=True, exist_ok=True)
        state = Recovered()
        bets_path = self.directory / BETS
        state.cut = _cut_torn_tail(bets_path)
        if bets_path.exists():
            with open(bets_path, "rb") as stream:
                lines = stream.read().splitlines(keepends=True)
            for line, row in zip(lines, csv.reader(line.decode("utf-8") for line in lines)):
                agency = int(row[0])
                if line not in state.rows:
                    state.rows.add(line)
                    state.counts[agency] = state.counts.get(agency, 0) + 1
                    if int(row[5]) == self.winning_number:
                        state.winners.setdefault(agency, []).append(row[3])
        agencies_path = self.directory / AGENCIES
        _cut_torn_tail(agencies_path)
        if agencies_path.exists():
            for agency, total in csv.reader(agencies_path.read_text("ascii").splitlines()):
                state.ended[int(agency)] = int(total)
        draw_path = self.directory / DRAW
        if draw_path.exists():
            recorded = json.loads(draw_path.read_text("utf-8"))
            state.draw = {int(agency): docs for agency, docs in recorded["winners"].items()}
        self._bets = os.open(bets_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._agencies = os.open(agencies_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fsync_directory(self.directory)
        return state

    def append(self, bets: bytes, ends: list[tuple[int, int]]) -> None:
        """Append bets' lines then agencies' ends, each file fdatasynced before returning
        (which flushes the grown size too; only times stay behind)."""
        assert self._bets is not None and self._agencies is not None, "recover() first"
        if bets:
            _write_all(self._bets, bets)
            os.fdatasync(self._bets)  # the data and the file's size: all a reader needs
        if ends:
            _write_all(self._agencies, "".join(f"{a},{t}\n" for a, t in ends).encode("ascii"))
            os.fdatasync(self._agencies)

    def record_draw(self, winners: dict[int, list[str]], bets: int) -> None:
        """Write the draw once, atomically: it is either wholly on disk or not at all."""
        path = self.directory / DRAW
        temporary = path.with_suffix(".tmp")
        document = {
            "winning_number": self.winning_number,
            "bets": bets,
            "winners": {str(agency): docs for agency, docs in sorted(winners.items())},
        }
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        _fsync_directory(self.directory)

    def close(self) -> None:
        """Close the files (everything written is already on disk)."""
        for fd in (self._bets, self._agencies):
            if fd is not None:
                os.close(fd)
        self._bets = self._agencies = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _cut_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last newline; return how many bytes were cut."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "r+b") as stream:
        stream.seek(max(0, size - 65536))
        tail = stream.read()
        if tail.endswith(b"\n"):
            return 0
        keep = size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        stream.truncate(keep)
        stream.flush()
        os.fsync(stream.fileno())
        return size - keep


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
