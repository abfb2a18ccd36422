"""A places server's decisions and its TCP protocol, with a Clock and fake transports."""

from __future__ import annotations

import json
from typing import Any, Optional

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from herd.places.server.connection import PlacesFactory, PlacesProtocol
from herd.places.server.service import LocationTable, PlacesServer
from herd.places.server.traffic import TrafficLog
from herd.protocols.places import At, parse_command

NOW = 1520023935.182837383
IAMAT = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997"
PLACES = {
    "html_attributions": [],
    "results": [{"name": f"place {i}", "geometry": {"location": {"lat": 34.0, "lng": -118.4}}} for i in range(5)],
    "status": "OK",
}


class FakeProvider:
    """Answers nearby() from the test; records the queries."""

    name = "fake"

    def __init__(self) -> None:
        self.queries: list[tuple[float, float, float]] = []
        self.answer: Optional[Deferred] = None

    def nearby(self, latitude: float, longitude: float, radius_m: float) -> Deferred:
        self.queries.append((latitude, longitude, radius_m))
        return self.answer if self.answer is not None else succeed(PLACES)


def at_line(client: bytes, sent: bytes, server: bytes = b"Hands") -> At:
    parsed = parse_command(b"AT " + server + b" +0.5 " + client + b" +10.0-20.0 " + sent)
    assert isinstance(parsed, At)
    return parsed


class LocationTableTests(SynchronousTestCase):
    def test_newer_wins_older_and_equal_lose(self) -> None:
        table = LocationTable()
        self.assertTrue(table.update(at_line(b"kiwi", b"100.5")))
        self.assertFalse(table.update(at_line(b"kiwi", b"100.5", b"Welsh")))
        self.assertFalse(table.update(at_line(b"kiwi", b"99")))
        self.assertTrue(table.update(at_line(b"kiwi", b"100.500000001")))
        self.assertEqual(table.get(b"kiwi").sent, b"100.500000001")
        self.assertEqual(len(table), 1)


class ServerCase(SynchronousTestCase):
    """A server named Goloman on a Clock, with a fake provider; floods are recorded."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.provider = FakeProvider()
        self.flooded: list[tuple[bytes, Optional[str]]] = []
        self.server = PlacesServer(
            "Goloman", self.clock, self.provider, lambda at, exclude: self.flooded.append((at.to_line(), exclude))
        )


class ServerTests(ServerCase):
    def test_iamat_is_answered_stored_and_flooded_to_all(self) -> None:
        reply = self.server.iamat(parse_command(IAMAT))
        self.assertRegex(reply.decode(), r"^AT Goloman \+0\.26387\d{4} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1520023934\.918963997\n$")
        self.assertEqual(self.flooded, [(reply.rstrip(b"\n"), None)])

    def test_stale_iamat_is_answered_but_neither_stored_nor_flooded(self) -> None:
        self.server.iamat(parse_command(IAMAT))
        stale = b"IAMAT kiwi.cs.ucla.edu +1.0+1.0 1520023900.0"
        reply = self.server.iamat(parse_command(stale))
        self.assertTrue(reply.startswith(b"AT Goloman +35.18"))
        self.assertEqual(len(self.flooded), 1)
        self.assertEqual(self.server.table.get(b"kiwi.cs.ucla.edu").location.text, b"+34.068930-118.445127")

    def test_peer_location_is_passed_on_except_to_its_sender(self) -> None:
        self.assertTrue(self.server.learned(at_line(b"kiwi", b"5"), "Hands"))
        self.assertEqual(self.flooded, [(at_line(b"kiwi", b"5").to_line(), "Hands")])
        self.assertFalse(self.server.learned(at_line(b"kiwi", b"5"), "Wilkes"))
        self.assertEqual(len(self.flooded), 1)

    def test_whatsat_answers_the_first_servers_at_line_and_cut_json(self) -> None:
        self.server.learned(at_line(b"kiwi", b"5"), "Hands")
        reply = self.successResultOf(self.server.whatsat(parse_command(b"WHATSAT kiwi 10 2"), b"WHATSAT kiwi 10 2"))
        first, rest = reply.split(b"\n", 1)
        self.assertEqual(first, b"AT Hands +0.5 kiwi +10.0-20.0 5")
        self.assertTrue(rest.endswith(b"}\n\n"))
        self.assertEqual(len(json.loads(rest)["results"]), 2)
        self.assertEqual(self.provider.queries, [(10.0, -20.0, 10000.0)])

    def test_whatsat_for_an_unknown_client_is_invalid(self) -> None:
        line = b"WHATSAT  nobody 10 2 "
        reply = self.successResultOf(self.server.whatsat(parse_command(line), line))
        self.assertEqual(reply, b"? WHATSAT  nobody 10 2 \n")

    def test_provider_bug_still_gets_a_clear_answer(self) -> None:
        self.server.learned(at_line(b"kiwi", b"5"), "Hands")
        self.provider.answer = fail(RuntimeError("boom"))
        reply = self.successResultOf(self.server.whatsat(parse_command(b"WHATSAT kiwi 1 1"), b"x"))
        self.assertEqual(json.loads(reply.split(b"\n", 1)[1])["status"], "UNKNOWN_ERROR")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class ProtocolTests(ServerCase):
    def setUp(self) -> None:
        super().setUp()
        self.factory = PlacesFactory(self.server, TrafficLog("Goloman"), self.clock, idle_timeout=60)

    def connect(self) -> tuple[PlacesProtocol, StringTransport]:
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_several_commands_answered_in_order(self) -> None:
        protocol, transport = self.connect()
        pending: Deferred[Any] = Deferred()
        self.provider.answer = pending
        protocol.dataReceived(IAMAT + b"\nWHATSAT kiwi.cs.ucla.edu 10 1\nBOGUS\n")
        first = transport.value()
        self.assertTrue(first.startswith(b"AT Goloman"))
        self.assertNotIn(b"? BOGUS", first)  # waits behind the WHATSAT
        pending.callback(PLACES)
        lines = transport.value()[len(first):]
        self.assertTrue(lines.startswith(b"AT Goloman"))
        self.assertTrue(lines.endswith(b"}\n\n? BOGUS\n"))
        self.assertFalse(transport.disconnecting)

    def test_last_command_without_newline_answered_after_half_close(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(IAMAT)
        self.assertEqual(transport.value(), b"")
        protocol.readConnectionLost()
        self.assertTrue(transport.value().startswith(b"AT Goloman"))
        self.assertTrue(transport.disconnecting)

    def test_whatsat_reply_is_one_write(self) -> None:
        self.server.learned(at_line(b"kiwi", b"5"), "Hands")
        protocol, transport = self.connect()
        writes: list[bytes] = []
        transport.write = writes.append  # type: ignore[method-assign]
        protocol.dataReceived(b"WHATSAT kiwi 10 3")
        protocol.readConnectionLost()
        self.assertEqual(len(writes), 1)
        self.assertTrue(writes[0].startswith(b"AT Hands") and writes[0].endswith(b"}\n\n"))

    def test_invalid_commands_echoed_as_received(self) -> None:
        protocol, transport = self.connect()
        for line in (b"HELLO there", b"  IAMAT kiwi 34.0-118.0 1", b"WHATSAT kiwi 51 1", b"WHATSAT kiwi 10 21",
                     b"IAMAT \xff\xfe +1+1 x", b"AT Hands +0.5 kiwi +1+1 5"):
            protocol.dataReceived(line + b"\r\n")
        self.assertEqual(
            transport.value(),
            b"? HELLO there\n?   IAMAT kiwi 34.0-118.0 1\n? WHATSAT kiwi 51 1\n? WHATSAT kiwi 10 21\n"
            b"? IAMAT \xff\xfe +1+1 x\n? AT Hands +0.5 kiwi +1+1 5\n",
        )
        self.assertEqual(self.flooded, [])

    def test_blank_lines_are_ignored(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"\n  \r\n\t\n")
        self.assertEqual(transport.value(), b"")

    def test_endless_line_is_refused_and_closed(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"IAMAT " + b"x" * 5000)
        self.assertTrue(transport.value().startswith(b"? IAMAT xxx"))
        self.assertTrue(transport.disconnecting)

    def test_peer_connection_feeds_the_flood_and_gets_no_reply(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"PEER Hands\n" + at_line(b"kiwi", b"7").to_line() + b"\nnonsense\n")
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.flooded, [(at_line(b"kiwi", b"7").to_line(), "Hands")])
        self.clock.advance(3600)
        self.assertFalse(transport.disconnecting)  # a neighbour's feed never idles out
        protocol.connectionLost(Failure(ConnectionDone()))

    def test_peer_greeting_only_as_first_line(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(IAMAT + b"\nPEER Hands\n")
        self.assertTrue(transport.value().endswith(b"? PEER Hands\n"))

    def test_idle_client_is_closed(self) -> None:
        protocol, transport = self.connect()
        self.clock.advance(59)
        protocol.dataReceived(b"\n")
        self.clock.advance(59)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(transport.disconnecting)




class TrafficFileTests(SynchronousTestCase):
    def test_only_traffic_events_as_json_lines(self) -> None:
        import io

        from twisted.logger import LogPublisher, Logger

        from herd.places.server.traffic import TrafficFile

        stream = io.StringIO()
        publisher = LogPublisher(TrafficFile(stream))
        traffic = TrafficLog("Goloman")
        traffic._log = Logger(namespace="herd.places.server.traffic", observer=publisher)
        traffic.received("client 127.0.0.1:4000", b"IAMAT \xff +1+1 1")
        traffic.peer_down("Hands", "outgoing", "Connection was refused")
        Logger(namespace="something.else", observer=publisher).info("not traffic")
        records = [json.loads(line) for line in stream.getvalue().splitlines()]
        self.assertEqual(len(records), 2)
        self.assertRegex(records[0].pop("time"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(records[0], {"server": "Goloman", "event": "in", "peer": "client 127.0.0.1:4000",
                                      "data": "IAMAT \\xff +1+1 1"})
        self.assertEqual(records[1]["event"], "peer-down")
        self.assertEqual(records[1]["reason"], "Connection was refused")
