"""A worker's registration: retried with backoff until 200 OK, then refreshed."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fakes import FakeDatagramTransport
from herd.protocols.scan import RegisterRequest, parse_request
from herd.scan.registrar import RegistrationProtocol, register_message

ORCH = ("127.0.0.1", 54000)


class RegistrationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.message = register_message(RegisterRequest("10.1.2.3", 54001, "w1"))
        self.protocol = RegistrationProtocol(self.message, ORCH, self.clock, retry=1, max_retry=4, refresh=30)
        self.transport = FakeDatagramTransport()
        self.protocol.transport = self.transport
        self.protocol.startProtocol()

    def sent_at(self) -> int:
        return len(self.transport.written)

    def test_message_is_the_specified_register(self) -> None:
        self.assertEqual(self.message, b"REGISTER 10.1.2.3 54001 w1")
        self.assertEqual(parse_request(self.message), RegisterRequest("10.1.2.3", 54001, "w1"))
        self.assertEqual(self.transport.written, [(self.message, ORCH)])

    def test_retries_with_backoff_until_answered(self) -> None:
        for delay in (1, 2, 4, 4, 4):
            before = self.sent_at()
            self.clock.advance(delay - 0.01)
            self.assertEqual(self.sent_at(), before)
            self.clock.advance(0.01)
            self.assertEqual(self.sent_at(), before + 1)
        self.assertFalse(self.protocol.registered)

    def test_ok_stops_retrying_and_refreshes_later(self) -> None:
        self.protocol.datagramReceived(b"200 OK\n", ORCH)
        self.assertTrue(self.protocol.registered)
        self.clock.advance(29.9)
        self.assertEqual(self.sent_at(), 1)
        self.clock.advance(0.1)
        self.assertEqual(self.sent_at(), 2)

    def test_reply_from_elsewhere_is_ignored(self) -> None:
        self.protocol.datagramReceived(b"200 OK\n", ("127.0.0.1", 9999))
        self.assertFalse(self.protocol.registered)
        self.clock.advance(1)
        self.assertEqual(self.sent_at(), 2)

    def test_refusal_keeps_trying(self) -> None:
        self.protocol.datagramReceived(b"400 ERROR bad Identifier\n", ORCH)
        self.assertFalse(self.protocol.registered)
        self.clock.advance(1)
        self.assertEqual(self.sent_at(), 2)

    def test_stop_cancels_the_timer(self) -> None:
        self.protocol.stopProtocol()
        self.assertEqual(self.clock.getDelayedCalls(), [])
