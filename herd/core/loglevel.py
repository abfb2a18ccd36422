"""A process-wide log level, checked before an event is even built (scan uses it first).

``twisted.logger.Logger`` builds an event for every call and hands it to the observers;
twistd's file observer then formats and writes it, whatever its level. For a per-job
event that is most of the cost of acknowledging a CHECK. ``LevelLogger`` drops an event
below the process's level (``--log-level``, default ``info``) before anything is built or
formatted: a disabled ``debug`` call costs one comparison.

The level is per process, set once by a tap (``twistd orchestrator``, ``twistd worker``);
unit tests that do not set it get the default, ``info``.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.logger import Logger, LogLevel

LEVELS: dict[str, int] = {"debug": 0, "info": 1, "warn": 2, "error": 3, "critical": 4}
"""Level names accepted by ``--log-level``, lowest first."""

_PRIORITY: dict[Any, int] = {getattr(LogLevel, name): rank for name, rank in LEVELS.items()}
_threshold = LEVELS["info"]


def log_level(name: str) -> str:
    """Option type of ``--log-level``: one of ``LEVELS``."""
    lowered = name.strip().lower()
    if lowered not in LEVELS:
        raise ValueError(f"unknown log level {name!r} (one of {', '.join(LEVELS)})")
    return lowered


def set_level(name: str) -> None:
    """Log only events at ``name`` or above from now on (every ``LevelLogger``)."""
    global _threshold
    _threshold = LEVELS[log_level(name)]


def current_level() -> str:
    """The level now in force."""
    return next(name for name, rank in LEVELS.items() if rank == _threshold)


def enabled(level: Any) -> bool:
    """Whether an event at ``level`` (a ``LogLevel``) would be logged now."""
    return _PRIORITY.get(level, 4) >= _threshold


class LevelLogger(Logger):
    """A ``Logger`` that drops events below the process's level before building them."""

    def emit(self, level: LogLevel, format: Optional[str] = None, **kwargs: object) -> None:
        if _PRIORITY.get(level, 4) < _threshold:
            return
        super().emit(level, format, **kwargs)

    def debug(self, format: Optional[str] = None, **kwargs: object) -> None:
        if _threshold > 0:  # the common case, decided without a look-up
            return
        super().emit(LogLevel.debug, format, **kwargs)
