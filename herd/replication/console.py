"""A component's printed messages: ``[HH:MM:SS] text``, to standard output and its log file.

Every component prints what the seed asks for through one ``Console``. The time stamp is
the local time of the injected clock. With a path, each line is also appended (and
flushed) to that file, which then holds exactly the printed messages, one per line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger


class Console:
    """Print ``[HH:MM:SS] text`` lines."""

    log = Logger()

    def __init__(self, clock: IReactorTime, path: Optional[Path] = None,
                 stream: Optional[IO[str]] = None) -> None:
        self._clock = clock
        self._stream = stream
        self._file: Optional[IO[str]] = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")
        self.lines: list[str] = []  # the last lines, for tests
        self.keep = 0

    def say(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(self._clock.seconds()))
        line = f"[{stamp}] {text}"
        if self.keep:
            self.lines.append(line)
            del self.lines[: -self.keep]
        for out in (self._stream, self._file):
            if out is not None:
                try:
                    out.write(line + "\n")
                    out.flush()
                except (OSError, ValueError):
                    pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def stdout_console(clock: IReactorTime, path: Optional[Path] = None) -> Console:
    """A console on the process's real standard output (twistd replaces ``sys.stdout``)."""
    return Console(clock, path, sys.__stdout__)


class MemoryConsole(Console):
    """A console that only keeps its lines (unit tests)."""

    def __init__(self, clock: IReactorTime) -> None:
        super().__init__(clock)
        self.keep = 100000

    def texts(self) -> list[str]:
        """The lines without their time stamps."""
        return [line.split("] ", 1)[1] for line in self.lines]
