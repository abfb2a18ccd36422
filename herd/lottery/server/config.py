"""The server's configuration, as the course's worked: INI file, then environment, then
command line, each overriding the one before.

The INI file has a ``[DEFAULT]`` section with ``SERVER_PORT``, ``SERVER_IP``,
``SERVER_LISTEN_BACKLOG`` and ``LOGGING_LEVEL``; environment variables of the same names
override it. A malformed or missing value is refused with a message naming it.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Mapping, Optional

from attrs import frozen
from twisted.logger import LogLevel

from herd.lottery.logs import parse_level

DEFAULTS = {
    "SERVER_PORT": "12345",
    "SERVER_IP": "0.0.0.0",
    "SERVER_LISTEN_BACKLOG": "50",
    "LOGGING_LEVEL": "INFO",
}
KEYS = tuple(DEFAULTS)


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names it."""


@frozen
class ServerConfig:
    """Where and how the server listens, and how much it logs."""

    port: int
    interface: str
    backlog: int
    level: LogLevel
    sources: Mapping[str, str]
    """Where each value came from (``default``, the INI file, ``environment``, ``command line``)."""


def read_ini(path: Path) -> dict[str, str]:
    """The ``[DEFAULT]`` values of an INI file (keys upper-cased as the course wrote them)."""
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
    except (OSError, configparser.Error) as error:
        raise ConfigError(f"config file {path}: {error}") from None
    return {key.upper(): value for key, value in parser.defaults().items()}


def load_server_config(
    command_line: Mapping[str, Optional[str]],
    environment: Mapping[str, str],
    ini: Optional[Path],
) -> ServerConfig:
    """Merge defaults, the INI file (if any), the environment and the command line."""
    values = dict(DEFAULTS)
    sources = {key: "default" for key in KEYS}
    if ini is not None:
        for key, value in read_ini(ini).items():
            if key in values:
                values[key], sources[key] = value, str(ini)
    for key in KEYS:
        if key in environment:
            values[key], sources[key] = environment[key], "environment"
    for key, value in command_line.items():
        if value is not None:
            values[key], sources[key] = str(value), "command line"
    return ServerConfig(
        port=_integer(values, sources, "SERVER_PORT", 0, 65535),
        interface=values["SERVER_IP"].strip(),
        backlog=_integer(values, sources, "SERVER_LISTEN_BACKLOG", 1, 65535),
        level=_level(values, sources, "LOGGING_LEVEL"),
        sources=sources,
    )


def _integer(values: Mapping[str, str], sources: Mapping[str, str], key: str, low: int, high: int) -> int:
    text = values[key].strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{key} (from {sources[key]}) must be an integer from {low} to {high}: {text!r}")
    return int(text)


def _level(values: Mapping[str, str], sources: Mapping[str, str], key: str) -> LogLevel:
    try:
        return parse_level(values[key], f"{key} (from {sources[key]})")
    except ValueError as error:
        raise ConfigError(str(error)) from None
