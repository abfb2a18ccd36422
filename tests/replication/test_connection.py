"""The thin protocol and the reconnecting link: framing, refusals, drops, reconnection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.defer import succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from herd.core.links import Link
from herd.replication.cluster import ClusterError, DEFAULT, load_cluster, parse_cluster
from herd.replication.connection import MessageConnection, MessageFactory
from herd.protocols.replication import Request


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def connected(self, conn) -> None:  # noqa: ANN001
        self.events.append(("connected", None))

    def received(self, conn, message) -> None:  # noqa: ANN001
        self.events.append(("received", message))
        conn.identified("C1")

    def refused(self, conn, why: str) -> None:  # noqa: ANN001
        self.events.append(("refused", why))

    def disconnected(self, conn) -> None:  # noqa: ANN001
        self.events.append(("disconnected", None))


def connect(idle: float = 10.0):
    clock, handler = Clock(), Recorder()
    conn = MessageFactory(handler, clock, idle).buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    transport = StringTransport()
    conn.makeConnection(transport)
    return conn, transport, handler, clock


def test_messages_are_handed_over_and_bad_ones_refused_without_dropping() -> None:
    conn, transport, handler, clock = connect()
    conn.dataReceived(b"<C1, S1, 1, x, request>\n<garbage>\n<C1, S1, 2, y, request>")
    kinds = [kind for kind, _ in handler.events]
    assert kinds == ["connected", "received", "refused", "received"]
    assert handler.events[3][1] == Request("C1", "S1", 2, "y")
    assert not transport.disconnecting


def test_100_kb_without_a_closing_bracket_drops_the_connection() -> None:
    conn, transport, handler, clock = connect()
    conn.dataReceived(b"<" + b"x" * 100_000)
    assert handler.events[-1][0] == "refused" and transport.disconnected


def test_a_silent_or_half_closed_stranger_is_dropped() -> None:
    conn, transport, handler, clock = connect(idle=5.0)
    clock.advance(5.1)
    assert handler.events[-1] == ("refused", "nothing valid within 5 s")
    assert transport.disconnected
    conn, transport, handler, clock = connect()
    conn.readConnectionLost()
    assert handler.events[-1] == ("refused", "half-closed connection")


class FakeEndpoint:
    """Connects at once over a StringTransport; remembers every connection (as wrapped)."""

    def __init__(self) -> None:
        self.protocols: list[MessageConnection] = []

    def connect(self, factory):  # noqa: ANN001, ANN201
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        self.protocols.append(protocol)
        return succeed(protocol)


def test_a_link_reconnects_after_a_drop_and_reports_up_and_down() -> None:
    clock, endpoint = Clock(), FakeEndpoint()
    ups, downs = [], []
    handler = Recorder()
    link = Link(clock, "S2", "127.0.0.1", 4000, lambda l: MessageConnection(handler, link=l),
                on_up=ups.append, on_down=downs.append, initial_delay=0.1, max_delay=1.0,
                endpoint=endpoint)
    link.startService()
    first = endpoint.protocols[0]
    assert len(ups) == 1 and link.protocol is ups[0]
    first.connectionLost(Failure(ConnectionDone()))
    assert len(downs) == 1 and link.protocol is None
    clock.advance(2.0)
    assert len(endpoint.protocols) == 2 and len(ups) == 2 and link.protocol is ups[1]
    link.stopService()


def test_the_packaged_cluster_file_and_bad_ones() -> None:
    cluster = load_cluster(DEFAULT)
    assert sorted(cluster.replicas) == ["S1", "S2", "S3"]
    assert cluster.lfds == {"LFD1": "S1", "LFD2": "S2", "LFD3": "S3"}
    assert cluster.kind("C9") is None and cluster.kind("GFD") == "gfd"
    good = json.loads(DEFAULT.read_text())
    for bad in ({}, {**good, "rm": 0}, {**good, "replicas": {"primary": {"port": 1}}},
                {**good, "clients": ["S1"]}, {**good, "replicas": {"S1": 5}}):
        with pytest.raises(ClusterError):
            parse_cluster(bad)
    with pytest.raises(ClusterError):
        load_cluster(Path("/nonexistent/cluster.json"))
