"""A worker registers with the orchestrator over UDP, and keeps its registration fresh.

``REGISTER <Hostname> <Port> <Identifier>`` is sent until the orchestrator answers
``200 OK``: at first after ``retry`` seconds, then twice as long each time up to
``max_retry``. Once registered, the worker registers again every ``refresh`` seconds, so
an orchestrator that restarted, or that marked the worker unreachable, gets it back.
"""

from __future__ import annotations

from typing import Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IListeningPort, IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from herd.protocols.scan import RegisterRequest

Address = tuple[str, int]


def register_message(request: RegisterRequest) -> bytes:
    """The REGISTER datagram for ``request``."""
    return f"REGISTER {request.host} {request.port} {request.worker_id}".encode("ascii")


class RegistrationProtocol(DatagramProtocol):
    """Send REGISTER to ``orchestrator`` until it says ``200 OK``, then refresh it."""

    log = Logger()

    def __init__(
        self,
        message: bytes,
        orchestrator: Address,
        clock: IReactorTime,
        retry: float = 1.0,
        max_retry: float = 10.0,
        refresh: float = 30.0,
    ) -> None:
        self.message = message
        self.orchestrator = orchestrator
        self._clock = clock
        self._retry = retry
        self._max_retry = max_retry
        self._refresh = refresh
        self._delay = retry
        self._timer: Optional[IDelayedCall] = None
        self.registered = False

    def startProtocol(self) -> None:
        self._send()

    def stopProtocol(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _send(self) -> None:
        try:
            self.transport.write(self.message, self.orchestrator)
        except OSError as error:
            self.log.warn("could not send REGISTER: {error}", error=error)
        self._schedule(self._delay)
        self._delay = min(self._delay * 2, self._max_retry)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self._clock.callLater(delay, self._send)

    def datagramReceived(self, datagram: bytes, addr: Address) -> None:
        if addr != self.orchestrator:
            self.log.warn("ignored a datagram from {peer}, not the orchestrator", peer=addr)
            return
        reply = datagram.decode("ascii", "replace").strip()
        if reply.startswith("200 OK"):
            if not self.registered:
                self.log.info("registered with the orchestrator at {peer}", peer=addr)
            self.registered = True
            self._delay = self._retry
            self._schedule(self._refresh)
        else:
            self.log.error("the orchestrator refused REGISTER: {reply}", reply=reply[:200])
            self.registered = False

    def connectionRefused(self) -> None:
        self.registered = False


class RegistrationService(Service):
    """Resolve the orchestrator's host, then run a RegistrationProtocol on a UDP port."""

    log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        request: RegisterRequest,
        orchestrator: Address,
        **timing: float,
    ) -> None:
        self._reactor = reactor
        self._message = register_message(request)
        self._orchestrator = orchestrator
        self._timing = timing
        self._port: Optional[IListeningPort] = None
        self._pending: Optional[Deferred[str]] = None
        self._retry_call: Optional[IDelayedCall] = None
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
            self._message, (address, port), self._reactor, **self._timing
        )
        self._port = self._reactor.listenUDP(0, self.protocol)  # type: ignore[attr-defined]

    def _unresolved(self, failure: object) -> None:
        self._pending = None
        self.log.error(
            "cannot resolve the orchestrator's host {host}; retrying in 5 s",
            host=self._orchestrator[0],
        )
        self._retry_call = self._reactor.callLater(5, self._resolve)

    def stopService(self) -> Optional[Deferred[None]]:
        super().stopService()
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        if self._pending is not None:
            self._pending.cancel()
        if self._port is not None:
            port, self._port = self._port, None
            return port.stopListening()
        return None
