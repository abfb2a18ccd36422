"""A places server's traffic log: its input, its output, its links with other servers.

Events go through ``twisted.logger`` in the ``herd.places.server.traffic`` namespace, at debug
level (so twistd's own log, at info, does not repeat them); ``TrafficFile`` writes them,
one JSON object per line, to the server's own file::

    {"time": "2026-11-24T09:38:36.049310Z", "server": "Goloman", "event": "in",
     "peer": "client 127.0.0.1:40312", "data": "IAMAT kiwi +34.06-118.44 1520023934.9"}

``event`` is one of ``in`` (a line from a client), ``out`` (a reply), ``flood-in`` (an AT
line from a neighbour, with ``news``: whether it was new), ``flood-out`` (an AT line sent
to a neighbour), ``peer-up`` and ``peer-down`` (a connection with a neighbour, with
``direction`` ``incoming`` or ``outgoing``, and ``reason`` when it dropped). ``data`` is
the bytes decoded as UTF-8, with ``\\xNN`` escapes for bytes that are not.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import IO

from twisted.logger import ILogObserver, LogEvent, Logger
from zope.interface import implementer

NAMESPACE = "herd.places.server.traffic"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


class TrafficLog:
    """Emit one server's traffic events."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._log = Logger(namespace=NAMESPACE)

    def _emit(self, event: str, peer: str, **fields: object) -> None:
        self._log.debug(
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


FIELDS = ("server", "event", "peer", "data", "news", "direction", "reason")


@implementer(ILogObserver)
class TrafficFile:
    """Write traffic events, and only those, as JSON lines to ``stream`` (flushed each)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: LogEvent) -> None:
        if event.get("log_namespace") != NAMESPACE:
            return
        when = datetime.fromtimestamp(event["log_time"], timezone.utc)
        record = {"time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        record.update((key, event[key]) for key in FIELDS if key in event)
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._stream.flush()
