"""Logging for the lottery's processes: the course's level names and one filtered observer.

Every line that carries an action keeps the course's grammar,
``action: <name> | result: success|fail|in_progress | key: value | ...``; this module only
decides which events reach the output (``LOGGING_LEVEL`` / ``log.level``).
"""

from __future__ import annotations

import re
import sys
from typing import IO, Optional

from twisted.application.service import MultiService
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    textFileLogObserver,
)

LEVELS = {
    "DEBUG": LogLevel.debug,
    "INFO": LogLevel.info,
    "WARN": LogLevel.warn,
    "WARNING": LogLevel.warn,
    "ERROR": LogLevel.error,
    "CRITICAL": LogLevel.critical,
}

_ACTION = re.compile(r"action: (\w+) \| result: (\w+)(.*)$")


def parse_level(text: str, name: str) -> LogLevel:
    """A level from its course name (``DEBUG``, ``INFO``, ...); ``ValueError`` names ``name``."""
    level = LEVELS.get(str(text).strip().upper())
    if level is None:
        raise ValueError(f"{name}: unknown log level {text!r} (one of {', '.join(LEVELS)})")
    return level


def level_observer(level: LogLevel, stream: Optional[IO[str]] = None) -> ILogObserver:
    """Text lines on ``stream`` (standard output by default) for events at ``level`` or above."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=level)
    return FilteringLogObserver(textFileLogObserver(stream or sys.stdout), [predicate])


class LoggingMultiService(MultiService):
    """A MultiService that gives twistd its log observer: the level-filtered one.

    twistd asks the application for an ``ILogObserver`` component after ``makeService``;
    this service sets it on the application when it is attached to it.
    """

    def __init__(self, level: LogLevel) -> None:
        super().__init__()
        self.level = level

    def setServiceParent(self, parent):  # type: ignore[no-untyped-def]
        super().setServiceParent(parent)
        set_component = getattr(parent, "setComponent", None)
        if set_component is not None:
            set_component(ILogObserver, level_observer(self.level))


def actions(text: str, name: Optional[str] = None) -> list[tuple[str, str, dict[str, str]]]:
    """``(action, result, fields)`` of every line that carries an action (optionally one)."""
    out = []
    for line in text.splitlines():
        match = _ACTION.search(line)
        if match and (name is None or match.group(1) == name):
            fields = {}
            for part in match.group(3).split(" | "):
                key, colon, value = part.partition(": ")
                if colon:
                    fields[key.strip(" |")] = value.strip()
            out.append((match.group(1), match.group(2), fields))
    return out
