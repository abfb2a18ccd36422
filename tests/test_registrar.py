"""A worker's link with the orchestrator: REGISTER with backoff, then heartbeats, rejoining."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.core.tokens import Tokens
from herd.protocols.scan import HeartbeatRequest, RegisterRequest, parse_request
from herd.scan.registrar import RegistrationProtocol
from tests.fakes import FakeDatagramTransport

ORCH = ("127.0.0.1", 54000)
REGISTER = RegisterRequest("10.1.2.3", 54001, "w1", 2)


class RegistrationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.running = 0
        self.protocol = RegistrationProtocol(
            REGISTER, ORCH, self.clock, running=lambda: self.running,
            retry=1, max_retry=4, heartbeat=2, missed_limit=3,
        )
        self.transport = FakeDatagramTransport()
        self.protocol.transport = self.transport
        self.protocol.startProtocol()

    def sent(self) -> list[object]:
        return [parse_request(data) for data, addr in self.transport.written]

    def test_register_is_the_specified_message_with_capacity(self) -> None:
        self.assertEqual(self.transport.written, [(b"REGISTER 10.1.2.3 54001 w1 capacity=2", ORCH)])
        self.assertEqual(self.sent(), [REGISTER])

    def test_retries_with_backoff_until_answered(self) -> None:
        for delay in (1, 2, 4, 4, 4):
            before = len(self.transport.written)
            self.clock.advance(delay - 0.01)
            self.assertEqual(len(self.transport.written), before)
            self.clock.advance(0.01)
            self.assertEqual(len(self.transport.written), before + 1)
        self.assertFalse(self.protocol.registered)

    def test_heartbeats_carry_the_running_jobs(self) -> None:
        self.protocol.datagramReceived(b"200 OK\n", ORCH)
        self.assertTrue(self.protocol.registered)
        self.running = 2
        self.clock.advance(2)
        self.assertEqual(self.sent()[-1], HeartbeatRequest("w1", 2))
        self.protocol.datagramReceived(b"200 OK\n", ORCH)
        self.clock.advance(2)
        self.assertEqual(len(self.transport.written), 3)

    def test_unknown_to_the_orchestrator_registers_again_at_once(self) -> None:
        self.protocol.datagramReceived(b"200 OK\n", ORCH)
        self.clock.advance(2)
        self.protocol.datagramReceived(b"404 UNKNOWN unknown worker w1: REGISTER first\n", ORCH)
        self.assertFalse(self.protocol.registered)
        self.assertEqual(self.sent()[-1], REGISTER)

    def test_silent_orchestrator_means_registering_again(self) -> None:
        self.protocol.datagramReceived(b"200 OK\n", ORCH)
        for _ in range(3):  # three heartbeats, no answer (Clock needs one step per timer)
            self.clock.advance(2)
        self.assertTrue(all(isinstance(m, HeartbeatRequest) for m in self.sent()[1:]))
        self.clock.advance(2)
        self.assertEqual(self.sent()[-1], REGISTER)
        self.assertFalse(self.protocol.registered)

    def test_reply_from_elsewhere_is_ignored(self) -> None:
        self.protocol.datagramReceived(b"200 OK\n", ("127.0.0.1", 9999))
        self.assertFalse(self.protocol.registered)

    def test_refusal_keeps_trying(self) -> None:
        self.protocol.datagramReceived(b"403 ERROR bad token\n", ORCH)
        self.assertFalse(self.protocol.registered)
        self.clock.advance(1)
        self.assertEqual(len(self.transport.written), 2)

    def test_stop_cancels_the_timer(self) -> None:
        self.protocol.stopProtocol()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SignedRegistrationTests(SynchronousTestCase):
    def test_every_message_carries_a_token_the_orchestrator_accepts(self) -> None:
        clock = Clock()
        clock.advance(1_000_000)
        protocol = RegistrationProtocol(REGISTER, ORCH, clock, tokens=Tokens(b"k", clock), heartbeat=2)
        transport = FakeDatagramTransport()
        protocol.transport = transport
        protocol.startProtocol()
        protocol.datagramReceived(b"200 OK\n", ORCH)
        clock.advance(2)
        checker = Tokens(b"k", clock)
        for data, _ in transport.written:
            message = parse_request(data)
            checker.check(message.signed(), message.token)


class NonsenseTests(SynchronousTestCase):
    def test_an_answer_that_is_no_answer_changes_nothing(self) -> None:
        clock = Clock()
        protocol = RegistrationProtocol(REGISTER, ORCH, clock, retry=1)
        protocol.transport = transport = FakeDatagramTransport()
        protocol.startProtocol()
        for nonsense in (b"200 OKAY", b"HTTP/1.1 200 OK", b"\xff\xfe", b""):
            protocol.datagramReceived(nonsense, ORCH)
        self.assertFalse(protocol.registered)
        clock.advance(1)
        self.assertEqual(len(transport.written), 2)
        protocol.stopProtocol()


class ServiceTests(SynchronousTestCase):
    def test_an_unresolvable_orchestrator_is_resolved_again_until_stopped(self) -> None:
        from twisted.internet.defer import fail
        from twisted.internet.error import DNSLookupError

        from herd.scan.registrar import RegistrationService

        class Reactor(Clock):
            lookups = 0

            def resolve(self, host: str):
                self.lookups += 1
                return fail(DNSLookupError(host))

        reactor = Reactor()
        service = RegistrationService(reactor, REGISTER, ("nowhere.invalid", 54000))
        service.startService()
        reactor.advance(5)
        self.assertEqual(reactor.lookups, 2)
        service.stopService()
        self.assertEqual(reactor.getDelayedCalls(), [])
        reactor.advance(10)
        self.assertEqual(reactor.lookups, 2)
