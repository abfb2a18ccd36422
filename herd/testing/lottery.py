"""The lottery on loopback: data sets, a server and agencies as real processes, and their logs.

For end-to-end tests, the benchmark and ``lottery-up``'s tests. ``ask`` is a raw-socket
client: one frame, then whatever the server answers until it closes or stops talking.
"""

from __future__ import annotations

import random
import socket
import sys
from pathlib import Path
from typing import Optional, Sequence

from twisted.internet.task import Clock

from herd.core.launcher import twistd_command as twistd
from herd.testing.processes import LOOPBACK, ProcessGroup, tcp_accepts, wait_for
from herd.lottery.dataset import DATASET_ZIP, course_dataset
from herd.lottery.logs import actions
from herd.protocols.lottery import ServerFrame, ServerFrameParser

class EagerClock(Clock):
    """A ``task.Clock`` that runs zero-delay calls at once: "the end of this reactor turn"
    comes immediately, so a group commit writes each submission alone, synchronously."""

    def callLater(self, delay, f, *args, **kw):  # type: ignore[no-untyped-def,override]
        if delay == 0:
            f(*args, **kw)
            return _Done()
        return super().callLater(delay, f, *args, **kw)


class _Done:
    def active(self) -> bool:
        return False

    def cancel(self) -> None:
        pass


COURSE_WINNERS = {1: 2, 2: 3, 3: 3, 4: 2, 5: 0}
"""Winning bets (number 7574) per agency of the course's data set."""


def synthetic_dataset(path: Path, bets: int, winners: int, seed: int, winning: int = 7574) -> list[str]:
    """Write ``bets`` unique bets, ``winners`` of them with the winning number (CRLF, as the
    course's); returns the winners' documents, in file order."""
    rng = random.Random(seed)
    chosen = set(rng.sample(range(bets), winners))
    lines, documents = [], []
    for index in range(bets):
        document = f"{seed:03d}{index:07d}"
        number = winning if index in chosen else rng.randrange(0, winning)
        lines.append(f"Nombre {index},Apellido {seed},{document},19{rng.randint(10, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)},{number}")
        if index in chosen:
            documents.append(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return documents


def start_server(group: ProcessGroup, port: int, store: Path, agencies: int, *extra: str,
                 name: str = "server", cwd: Optional[Path] = None) -> None:
    """``twistd -n lottery`` on loopback; returns once it listens."""
    process = group.start(name, [*twistd(), "-n", "--pidfile=", "lottery", "--agencies", str(agencies),
                                 "--port", str(port), "--interface", LOOPBACK, "--store", str(store),
                                 *extra], cwd=cwd)

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{group.output(name)[-3000:]}")
        return tcp_accepts(port)

    wait_for(up, 30, f"{name} to listen on {port}")


def start_agency(group: ProcessGroup, agency: int, port: int, dataset: Path, *extra: str,
                 name: Optional[str] = None, env: Optional[dict] = None, cwd: Optional[Path] = None):  # type: ignore[no-untyped-def]
    """``bin/agency --id N`` against the server on ``port``; returns its Popen."""
    argv = [sys.executable, "-m", "herd.lottery.cli.agency", "--id", str(agency),
            "--server", f"{LOOPBACK}:{port}", "--dataset", str(dataset), *extra]
    if env:
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
    return group.start(name or f"agency-{agency}", argv, cwd=cwd)


def ask(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send ``data`` on a connection of its own; ``(what came back, closed by the server)``."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return b"".join(chunks), True
                chunks.append(chunk)
        except socket.timeout:
            return b"".join(chunks), False
        except ConnectionResetError:  # closed with bytes of ours unread
            return b"".join(chunks), True


def ask_frame(port: int, data: bytes, timeout: float = 10.0) -> "ServerFrame":
    """Send ``data`` on a connection of its own and return the server's first frame."""
    parser = ServerFrameParser()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(data)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection without an answer")
            frames = parser.feed(chunk)
            if frames:
                return frames[0]


def send_and_close(port: int, data: bytes) -> None:
    """Send ``data`` and close at once (a truncated frame followed by a close)."""
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        sock.sendall(data)


def rows(store: Path) -> list[str]:
    """The lines of ``store/bets.csv``."""
    path = store / "bets.csv"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def expected_rows(agency: int, dataset: Path) -> list[str]:
    """The ``bets.csv`` lines an agency's data set should become."""
    return [f"{agency},{line}" for line in dataset.read_text(encoding="utf-8").splitlines() if line.strip()]


def count_lines(text: str, needle: str) -> int:
    return sum(1 for line in text.splitlines() if needle in line)


__all__: Sequence[str] = (
    "COURSE_WINNERS", "DATASET_ZIP", "EagerClock", "actions", "ask", "ask_frame", "course_dataset", "count_lines",
    "expected_rows", "rows", "send_and_close", "start_agency", "start_server", "synthetic_dataset",
)
