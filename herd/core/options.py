"""Coercers for command-line options shared by herd's twistd commands and scripts."""

from __future__ import annotations

from twisted.python.usage import UsageError


def positive_float(text: str) -> float:
    """A number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise UsageError(f"must be a positive number: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer greater than zero."""
    if not str(text).strip().isdigit() or int(text) < 1:
        raise UsageError(f"must be a positive integer: {text!r}")
    return int(text)


def port_number(text: str) -> int:
    """A port number from 1 to 65535."""
    if not str(text).strip().isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"not a port number (1-65535): {text!r}")
    return int(text)


positive_float.coerceDoc = "Must be > 0."  # type: ignore[attr-defined]
positive_int.coerceDoc = "Must be a positive integer."  # type: ignore[attr-defined]
port_number.coerceDoc = "Must be 1-65535."  # type: ignore[attr-defined]
