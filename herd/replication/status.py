"""What a cluster's printed messages say: who is ready, who is primary (from ``RM.log``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

_READY = re.compile(r"Received <(\w+), ready>")
_GONE = re.compile(r"Received <GFD, (\w+), delete, membership>")
_PRIMARY = re.compile(r"RM: (\w+) is the (?:new )?primary")


def printed(path: Path) -> list[str]:
    """The printed messages of a log file, without their ``[HH:MM:SS]`` stamps."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return [line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line
            for line in text.splitlines()]


def ready(rm_lines: list[str]) -> set[str]:
    """The replicas the RM counts as ready, after these lines of its log."""
    now: set[str] = set()
    for line in rm_lines:
        if m := _READY.fullmatch(line):
            now.add(m.group(1))
        elif m := _GONE.fullmatch(line):
            now.discard(m.group(1))
        elif m := _PRIMARY.match(line):
            now.add(m.group(1))
    return now


def primary(rm_lines: list[str]) -> Optional[str]:
    """The latest primary the RM named."""
    found = [m.group(1) for line in rm_lines if (m := _PRIMARY.match(line))]
    return found[-1] if found else None
