"""A worker's link with the orchestrator over UDP: REGISTER, then HEARTBEATs.

``REGISTER <Hostname> <Port> <Identifier> capacity=<N>`` is sent until the orchestrator
answers ``200 OK``: again when no answer came within ``retry`` seconds, then twice as long
each time up to ``max_retry`` (``herd.core.timers.with_timeout``). Then
``HEARTBEAT <Identifier> running=<N>`` goes out every ``heartbeat`` seconds (``LoopingCall``).
Every answer is parsed by the codec (``parse_ack``). A ``404 UNKNOWN`` answer (the orchestrator lost its pool) or ``missed_limit``
heartbeats in a row without an answer (it is down or restarting) send the worker back to
registering, so it rejoins a restarted orchestrator by itself. With a shared secret, every
message carries a fresh ``token=`` (``herd.core.tokens``).
"""

from __future__ import annotations

from typing import Callable, Optional

from attrs import evolve
from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure

from herd.core.timers import with_timeout
from herd.core.tokens import Tokens
from herd.protocols.scan import HeartbeatRequest, ProtocolError, RegisterRequest
from herd.protocols.scan_replies import UNKNOWN, Ack, parse_ack
from herd.core.loglevel import LevelLogger

Address = tuple[str, int]


class RegistrationProtocol(DatagramProtocol):
    """Keep one worker registered with, and beating to, the orchestrator."""

    log = LevelLogger()

    def __init__(
        self,
        request: RegisterRequest,
        orchestrator: Address,
        clock: IReactorTime,
        tokens: Optional[Tokens] = None,
        running: Callable[[], int] = lambda: 0,
        retry: float = 1.0,
        max_retry: float = 10.0,
        heartbeat: float = 2.0,
        missed_limit: int = 3,
    ) -> None:
        self.request = request
        self.orchestrator = orchestrator
        self._clock = clock
        self._tokens = tokens
        self._running = running
        self._retry = retry
        self._max_retry = max_retry
        self._heartbeat = heartbeat
        self._missed_limit = missed_limit
        self._delay = retry
        self._missed = 0
        self._answer: Optional[Deferred[None]] = None  # a REGISTER's, while one is awaited
        self._beats = LoopingCall(self._beat)
        self._beats.clock = clock
        self.registered = False

    def startProtocol(self) -> None:
        self._register()

    def stopProtocol(self) -> None:
        self._stop()

    def _send(self, request: object, signed: bytes) -> None:
        if self._tokens is not None:
            request = evolve(request, token=self._tokens.make(signed))
        try:
            self.transport.write(request.to_line(), self.orchestrator)  # type: ignore[attr-defined]
        except OSError as error:
            self.log.warn("could not write to the orchestrator: {error}", error=error)

    def _register(self) -> None:
        """Send REGISTER; without an answer within the delay, again after a longer one."""
        self._send(self.request, self.request.signed())
        self._answer = Deferred()
        with_timeout(self._answer, self._delay, self._clock, "answer to REGISTER")
        self._answer.addCallbacks(self._registered, self._unanswered)
        self._delay = min(self._delay * 2, self._max_retry)

    def _unanswered(self, failure: Failure) -> None:
        if failure.check(TimeoutError):  # not cancelled: nobody answered in time
            self._register()

    def _registered(self, _: None) -> None:
        self._answer = None
        self.log.info("registered with the orchestrator at {peer}", peer=self.orchestrator)
        self.registered = True
        self._beats.start(self._heartbeat, now=False)

    def _beat(self) -> None:
        if self._missed >= self._missed_limit:
            self.log.warn("the orchestrator answered none of {count} heartbeats: registering again",
                          count=self._missed)
            self._rejoin()
            return
        beat = HeartbeatRequest(self.request.worker_id, min(self._running(), 64))
        self._send(beat, beat.signed())
        self._missed += 1

    def _rejoin(self) -> None:
        self._stop()
        self.registered = False
        self._missed = 0
        self._delay = self._retry
        self._register()

    def _stop(self) -> None:
        """No more heartbeats, no REGISTER awaited."""
        if self._beats.running:
            self._beats.stop()
        answer, self._answer = self._answer, None
        if answer is not None:
            answer.cancel()

    def datagramReceived(self, datagram: bytes, addr: Address) -> None:
        if addr != self.orchestrator:
            self.log.warn("ignored a datagram from {peer}, not the orchestrator", peer=addr)
            return
        try:
            reply = parse_ack(datagram)
        except ProtocolError as error:
            self.log.error("the orchestrator answered nonsense: {error}", error=str(error))
            return
        if isinstance(reply, Ack):
            self._missed = 0
            if self._answer is not None:
                self._answer.callback(None)
        elif reply.code == UNKNOWN:
            self.log.info("the orchestrator does not know this worker: registering again")
            self._rejoin()
        else:
            self.log.error("the orchestrator refused: {reply}",
                           reply=f"{reply.code} {reply.reason}"[:200])


class RegistrationService(Service):
    """Resolve the orchestrator's host, then run a RegistrationProtocol on a UDP port."""

    log = LevelLogger()

    def __init__(
        self,
        reactor: IReactorTime,
        request: RegisterRequest,
        orchestrator: Address,
        **options: object,
    ) -> None:
        self._reactor = reactor
        self._request = request
        self._orchestrator = orchestrator
        self._options = options
        self._port: Optional[IListeningPort] = None
        self._pending: Optional[Deferred[str]] = None
        self._retry_call: Optional[Deferred[None]] = None  # resolving again, later
        self.protocol: Optional[RegistrationProtocol] = None

    def startService(self) -> None:
        super().startService()
        self._resolve()

    def _resolve(self) -> None:
        self._retry_call = None
        host, port = self._orchestrator
        self._pending = self._reactor.resolve(host)  # type: ignore[attr-defined]
        self._pending.addCallbacks(self._listen, self._unresolved, (port,))

    def _listen(self, address: str, port: int) -> None:
        self._pending = None
        self.protocol = RegistrationProtocol(
            self._request, (address, port), self._reactor, **self._options  # type: ignore[arg-type]
        )
        self._port = self._reactor.listenUDP(0, self.protocol)  # type: ignore[attr-defined]

    def _unresolved(self, failure: object) -> None:
        self._pending = None
        self.log.error(
            "cannot resolve the orchestrator's host {host}; retrying in 5 s",
            host=self._orchestrator[0],
        )
        self._retry_call = deferLater(self._reactor, 5, self._resolve)
        self._retry_call.addErrback(lambda failure: failure.trap(CancelledError))  # stopped

    def stopService(self) -> Optional[Deferred[None]]:
        super().stopService()
        if self._retry_call is not None:
            self._retry_call.cancel()
        if self._pending is not None:
            self._pending.cancel()
        if self._port is not None:
            port, self._port = self._port, None
            return port.stopListening()
        return None
