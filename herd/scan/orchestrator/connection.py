"""The orchestrator's UDP face: one datagram in, exactly one datagram out."""

from __future__ import annotations

from typing import Callable, Optional, Union

from twisted.application import internet
from twisted.internet import udp
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from herd.protocols.scan import ProtocolError, Request, parse_request
from herd.protocols.scan_replies import format_error
from herd.core.loglevel import LevelLogger

Address = tuple[str, int]


class OrchestratorProtocol(DatagramProtocol):
    """Parse each datagram, let ``handle(request, sender_ip)`` decide, reply to the sender
    (at once, or when the Deferred ``handle`` may return fires).

    A malformed datagram is answered with ``400 ERROR <reason>``; an unexpected exception
    in ``handle`` is logged and answered with ``500 ERROR``; either way the protocol keeps
    serving.
    """

    log = LevelLogger()

    def __init__(
        self,
        handle: Callable[[Request, str], Union[bytes, "Deferred[bytes]"]],
        refused: Callable[[str], None] = lambda reason: None,
        read_done: Optional[Callable[[], None]] = None,
    ) -> None:
        self._handle = handle
        self._refused = refused
        self.readDone = read_done or (lambda: None)

    def datagramReceived(self, datagram: bytes, addr: Address) -> None:
        try:
            request = parse_request(datagram)
        except ProtocolError as error:
            self.log.info(
                "refused {size} bytes from {peer}: {reason}",
                size=len(datagram),
                peer=addr,
                reason=str(error),
            )
            self._refused("malformed")
            self._reply(format_error(str(error)), addr)
            return
        try:
            answer = self._handle(request, addr[0])
        except Exception:
            self._reply(self._crashed(Failure(), request, addr), addr)
            return
        if isinstance(answer, Deferred):
            answer.addErrback(self._crashed, request, addr)
            answer.addCallback(self._reply, addr)
        else:
            self._reply(answer, addr)

    def _crashed(self, failure: Failure, request: Request, addr: Address) -> bytes:
        self.log.failure("handling {request} from {peer}", failure, request=request, peer=addr)
        return format_error("internal error, see the orchestrator's log", "500 ERROR")

    def _reply(self, reply: bytes, addr: Address) -> None:
        try:
            self.transport.write(reply, addr)
        except OSError as error:
            self.log.warn("could not reply to {peer}: {error}", peer=addr, error=error)



class ReadBatchPort(udp.Port):
    """A UDP port that calls its protocol's ``readDone()`` after each read of the socket,
    once every datagram waiting in it has been handed to ``datagramReceived``."""

    log = LevelLogger()

    def doRead(self) -> None:
        try:
            super().doRead()
        finally:
            try:
                self.protocol.readDone()
            except Exception:  # an exception out of doRead would close the port
                self.log.failure("after reading datagrams")


class ReadBatchUDPServer(internet.UDPServer):
    """``internet.UDPServer`` listening through a ``ReadBatchPort``."""

    def _getPort(self) -> IListeningPort:
        from twisted.internet import reactor

        port, protocol = self.args
        listening = ReadBatchPort(port, protocol, interface=self.kwargs.get("interface", ""),
                                  reactor=self.reactor or reactor)
        listening.startListening()
        return listening
