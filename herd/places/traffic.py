"""A places server's traffic log: its input, its output, its links with other servers.

Events go through ``twisted.logger`` in the ``herd.places.traffic`` namespace;
``traffic_observer`` writes them, one JSON object per line, to the server's own file::

    {"log_time": 1795511548.12, "server": "Goloman", "event": "in",
     "peer": "client 127.0.0.1:40312", "data": "IAMAT kiwi +34.06-118.44 1520023934.9", ...}

``event`` is one of ``in`` (a line from a client), ``out`` (a reply), ``flood-in`` (an AT
line from a neighbour; ``news`` says whether it was new), ``flood-out`` (an AT line sent to
a neighbour), ``peer-up`` and ``peer-down`` (a connection with a neighbour, ``direction``
``incoming`` or ``outgoing``, ``reason`` when it dropped). ``data`` is the bytes decoded as
UTF-8, with ``\\xNN`` escapes for bytes that are not.
"""

from __future__ import annotations

from typing import IO

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    Logger,
    PredicateResult,
    jsonFileLogObserver,
)

NAMESPACE = "herd.places.traffic"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


class TrafficLog:
    """Emit one server's traffic events."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._log = Logger(namespace=NAMESPACE)

    def _emit(self, event: str, peer: str, **fields: object) -> None:
        self._log.info(
            "{server} {event} {peer} {data}", server=self.server, event=event, peer=peer, **fields
        )

    def received(self, peer: str, line: bytes) -> None:
        self._emit("in", peer, data=_text(line))

    def sent(self, peer: str, data: bytes) -> None:
        self._emit("out", peer, data=_text(data))

    def flooded_in(self, peer: str, line: bytes, news: bool) -> None:
        self._emit("flood-in", peer, data=_text(line), news=news)

    def flooded_out(self, peer: str, line: bytes) -> None:
        self._emit("flood-out", peer, data=_text(line))

    def peer_up(self, peer: str, direction: str) -> None:
        self._emit("peer-up", peer, data="", direction=direction)

    def peer_down(self, peer: str, direction: str, reason: str) -> None:
        self._emit("peer-down", peer, data="", direction=direction, reason=reason)


def _is_traffic(event: LogEvent) -> PredicateResult:
    return PredicateResult.yes if event.get("log_namespace") == NAMESPACE else PredicateResult.no


def traffic_observer(stream: IO[str]) -> ILogObserver:
    """An observer writing traffic events, and only those, as JSON lines to ``stream``."""
    return FilteringLogObserver(jsonFileLogObserver(stream, recordSeparator=""), [_is_traffic])
