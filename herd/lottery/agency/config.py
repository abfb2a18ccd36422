"""An agency's configuration, as the course's worked: YAML file, then the ``CLI_*``
environment variables, then the command line, each overriding the one before.

YAML keys: ``id``, ``server.address``, ``loop.amount``, ``loop.period`` (``150ms``),
``log.level``, ``batch.maxAmount``, ``socket.timeout``. Environment: ``CLI_ID``,
``CLI_SERVER_ADDRESS``, ``CLI_LOOP_AMOUNT``, ``CLI_LOOP_PERIOD``, ``CLI_LOG_LEVEL``,
``CLI_BATCH_MAXAMOUNT``, ``CLI_SOCKET_TIMEOUT`` and, for the single POST_BET of the
course's exercise 5, ``CLI_BETTOR_NOMBRE``, ``_APELLIDO``, ``_DOCUMENTO``, ``_NACIMIENTO``,
``_NUMERO`` (all five or none). A malformed or missing value is refused at start-up with a
message naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml
from attrs import frozen
from twisted.logger import LogLevel

from herd.lottery.logs import parse_level
from herd.protocols.lottery import MAX_UINT32, Bet, InvalidBet, parse_bet

# key: (YAML path, environment variable, default)
SETTINGS = {
    "id": ("id", "CLI_ID", None),
    "server": ("server.address", "CLI_SERVER_ADDRESS", "127.0.0.1:12345"),
    "loop_amount": ("loop.amount", "CLI_LOOP_AMOUNT", "0"),
    "loop_period": ("loop.period", "CLI_LOOP_PERIOD", "0s"),
    "log_level": ("log.level", "CLI_LOG_LEVEL", "INFO"),
    "max_amount": ("batch.maxAmount", "CLI_BATCH_MAXAMOUNT", "100"),
    "socket_timeout": ("socket.timeout", "CLI_SOCKET_TIMEOUT", "15s"),
    "dataset": ("dataset", "CLI_DATASET", None),
}
BETTOR = ("NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names it."""


@frozen
class AgencyConfig:
    """Everything an agency needs to run."""

    id: int
    host: str
    port: int
    loop_amount: int
    """At most this many batches (0: the whole data set)."""
    loop_period: float
    """Seconds between two batches."""
    level: LogLevel
    max_amount: int
    socket_timeout: float
    dataset: Path
    bettor: Optional[Bet]
    """The single bet of exercise 5, sent first as a POST_BET."""


def parse_duration(text: str, name: str) -> float:
    """Seconds from a Go-style duration (``150ms``, ``15s``, ``1m30s``; a bare number: s)."""
    text = str(text).strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value >= 0:
            return value
        raise ConfigError(f"{name}: a duration cannot be negative: {text!r}")
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{name}: not a duration like 150ms, 15s or 1m30s: {text!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def _lookup(document: Mapping[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def read_yaml(path: Path) -> Mapping[str, Any]:
    """The YAML configuration file (an empty file is an empty configuration)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"config file {path}: {error}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"config file {path}: not a mapping of settings")
    return document


def load_agency_config(
    command_line: Mapping[str, Optional[str]],
    environment: Mapping[str, str],
    yaml_file: Optional[Path],
    workdir: Path = Path("."),
) -> AgencyConfig:
    """Merge defaults, the YAML file, the environment and the command line."""
    document = read_yaml(yaml_file) if yaml_file is not None else {}
    values: dict[str, Optional[str]] = {}
    names: dict[str, str] = {}
    for key, (path, variable, default) in SETTINGS.items():
        value, name = default, f"{path} (default)"
        found = _lookup(document, path)
        if found is not None:
            value, name = str(found), f"{path} (from {yaml_file})"
        if variable in environment:
            value, name = environment[variable], variable
        if command_line.get(key) is not None:
            value, name = str(command_line[key]), f"--{key.replace('_', '-')}"
        values[key], names[key] = value, name

    identity = _integer(values["id"], names["id"], 1, MAX_UINT32, "an agency id")
    host, port = _address(values["server"] or "", names["server"])
    dataset = Path(values["dataset"]) if values["dataset"] else workdir / ".data" / f"agency-{identity}.csv"
    try:
        level = parse_level(values["log_level"] or "", names["log_level"])
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return AgencyConfig(
        id=identity,
        host=host,
        port=port,
        loop_amount=_integer(values["loop_amount"], names["loop_amount"], 0, 10**9, "a count"),
        loop_period=parse_duration(values["loop_period"] or "", names["loop_period"]),
        level=level,
        max_amount=_integer(values["max_amount"], names["max_amount"], 1, 10**6, "a batch size"),
        socket_timeout=_positive(parse_duration(values["socket_timeout"] or "", names["socket_timeout"]),
                                 names["socket_timeout"]),
        dataset=dataset,
        bettor=_bettor(environment),
    )


def _integer(text: Optional[str], name: str, low: int, high: int, what: str) -> int:
    if text is None:
        raise ConfigError(f"{name}: missing ({what} is required)")
    text = text.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{name}: {what} must be an integer from {low} to {high}: {text!r}")
    return int(text)


def _positive(value: float, name: str) -> float:
    if value <= 0:
        raise ConfigError(f"{name}: must be more than zero")
    return value


def _address(text: str, name: str) -> tuple[str, int]:
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{name}: not a HOST:PORT address: {text!r}")
    return host.strip("[]"), int(port)


def _bettor(environment: Mapping[str, str]) -> Optional[Bet]:
    present = {field: environment.get(f"CLI_BETTOR_{field}") for field in BETTOR}
    given = [field for field, value in present.items() if value is not None]
    if not given:
        return None
    missing = [f"CLI_BETTOR_{field}" for field in BETTOR if present[field] is None]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: missing (the CLI_BETTOR_* variables go together)")
    try:
        return parse_bet(",".join(present[field] or "" for field in BETTOR).encode("utf-8"))
    except InvalidBet as error:
        raise ConfigError(f"CLI_BETTOR_*: not a valid bet: {error}") from None
