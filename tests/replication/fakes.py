"""Fakes for the replication unit tests: a connection that records what is sent on it."""

from __future__ import annotations

from typing import Optional

from twisted.internet.task import Clock

from herd.replication.cluster import Cluster, parse_cluster
from herd.replication.console import MemoryConsole
from herd.protocols.replication import Message


class FakeConn:
    """What a handler sees of a MessageConnection."""

    def __init__(self, label: str = "peer") -> None:
        self.label = label
        self.peer: Optional[str] = None
        self.sent: list[Message] = []
        self.closed = False

    def identified(self, name: str) -> None:
        self.peer = name

    def send(self, message: Message) -> None:
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True

    def describe(self) -> str:
        return self.peer or self.label

    def take(self) -> list[Message]:
        sent, self.sent = self.sent, []
        return sent


def cluster() -> Cluster:
    return parse_cluster({
        "host": "127.0.0.1", "rm": 1001, "gfd": 1002,
        "replicas": {"S1": {"port": 1011, "lfd": "LFD1"}, "S2": {"port": 1012, "lfd": "LFD2"},
                     "S3": {"port": 1013, "lfd": "LFD3"}},
        "clients": ["C1", "C2", "C3"]})


def clock_and_console() -> tuple[Clock, MemoryConsole]:
    clock = Clock()
    clock.advance(1_700_000_000)
    return clock, MemoryConsole(clock)
