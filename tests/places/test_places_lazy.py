"""What lets a server listen at once: the lazy provider, its peer links' endpoint, hurry."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from herd.places.server.connection import PlacesFactory
from herd.places.server.lazy import LazyProvider, offline_places
from herd.places.server.peers import Neighbours, TCPEndpoint
from herd.places.server.provider import OfflinePlaces, iter_cities
from herd.places.server.service import PlacesServer
from herd.places.server.traffic import TrafficLog
from herd.places.topology import Address


class Answering:
    name = "fake"

    def nearby(self, latitude: float, longitude: float, radius_m: float) -> Deferred[dict[str, Any]]:
        return succeed({"status": "OK", "results": [latitude, longitude, radius_m]})


class LazyProviderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.prepared = 0
        self.threads: list[Deferred] = []

    def prepare(self) -> Any:
        self.prepared += 1
        return Answering

    def in_thread(self, prepare: Any) -> Deferred:
        d: Deferred = Deferred()
        self.threads.append(d)
        d.addCallback(lambda _: prepare())
        return d

    def test_built_once_on_first_use_and_waiters_answered(self) -> None:
        lazy = LazyProvider("fake", self.prepare, self.in_thread)
        self.assertEqual(self.prepared, 0)
        first, second = lazy.nearby(1, 2, 3), lazy.nearby(4, 5, 6)
        self.assertNoResult(first)
        self.assertEqual(len(self.threads), 1)  # one build for both
        self.threads[0].callback(None)
        self.assertEqual(self.successResultOf(first)["results"], [1, 2, 3])
        self.assertEqual(self.successResultOf(second)["results"], [4, 5, 6])
        self.assertTrue(lazy.ready)
        self.assertEqual(self.successResultOf(lazy.nearby(7, 8, 9))["results"], [7, 8, 9])
        self.assertEqual((self.prepared, len(self.threads)), (1, 1))

    def test_a_failed_build_is_answered_and_retried(self) -> None:
        lazy = LazyProvider("fake", self.prepare, lambda prepare: fail(OSError("no data")))
        answer = self.successResultOf(lazy.nearby(1, 2, 3))
        self.assertEqual(answer["status"], "UNKNOWN_ERROR")
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertFalse(lazy.ready)
        lazy._in_thread = self.in_thread
        retried = lazy.nearby(1, 2, 3)
        self.threads[0].callback(None)
        self.assertEqual(self.successResultOf(retried)["status"], "OK")

    def test_offline_recipe_loads_in_its_first_step(self) -> None:
        finish = offline_places(15000)()
        places = finish()
        self.assertIsInstance(places, OfflinePlaces)
        self.assertIsNotNone(places._cells)


class IterCitiesTests(SynchronousTestCase):
    def test_same_values_as_json_loads(self) -> None:
        text = json.dumps({"1": {"name": 'a "quoted" }, name', "n": [1, {"x": "}"}]}, '2"': {}, "3": {"z": None}},
                          indent=1)
        self.assertEqual(list(iter_cities(text)), list(json.loads(text).values()))
        self.assertEqual(list(iter_cities("{}")), [])


class EndpointTests(SynchronousTestCase):
    def test_connects_with_connect_tcp(self) -> None:
        reactor = MemoryReactorClock()
        d = TCPEndpoint(reactor, "127.0.0.1", 10991, timeout=5).connect(Factory.forProtocol(Protocol))
        host, port, factory, timeout, _ = reactor.tcpClients[0]
        self.assertEqual((host, port, timeout), ("127.0.0.1", 10991, 5))
        self.assertNoResult(d)
        protocol = factory.buildProtocol(None)
        self.assertIs(self.successResultOf(d), protocol)

    def test_failure_and_cancel(self) -> None:
        reactor = MemoryReactorClock()
        d = TCPEndpoint(reactor, "127.0.0.1", 1).connect(Factory.forProtocol(Protocol))
        connector = reactor.connectors[0]
        reactor.tcpClients[0][2].clientConnectionFailed(connector, ConnectionRefusedError())
        self.failureResultOf(d, ConnectionRefusedError)
        cancelled = TCPEndpoint(reactor, "127.0.0.1", 1).connect(Factory.forProtocol(Protocol))
        cancelled.cancel()
        self.assertTrue(reactor.connectors[1].stoppedConnecting)
        self.failureResultOf(cancelled)


class HurryTests(SynchronousTestCase):
    def test_a_neighbour_that_connects_gets_our_link_at_once(self) -> None:
        reactor = MemoryReactorClock()
        traffic = TrafficLog("Clark")
        neighbours = Neighbours("Clark", {"Jaquez": Address("127.0.0.1", 9993, 10993)}, reactor,
                                lambda: [], traffic, max_retry_delay=10)
        neighbours.startService()
        self.assertEqual(reactor.tcpClients[-1][1], 10993)  # the peer port, never 9993
        reactor.tcpClients[-1][2].clientConnectionFailed(reactor.connectors[-1], ConnectionRefusedError())
        attempts = len(reactor.tcpClients)
        reactor.advance(0.01)
        self.assertEqual(len(reactor.tcpClients), attempts)  # waiting for its backoff

        server = PlacesServer("Clark", reactor, Answering(), neighbours.flood)
        protocol = PlacesFactory(server, traffic, reactor, on_peer=neighbours.hurry).buildProtocol(None)
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(b"PEER Jaquez\n")
        self.assertEqual(len(reactor.tcpClients), attempts + 1)  # at once, no backoff
        self.assertEqual(reactor.tcpClients[-1][1], 10993)
        neighbours.stopService()
