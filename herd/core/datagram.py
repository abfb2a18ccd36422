"""One UDP request, one reply, on the reactor: for launchers and tools that ask a UDP service.

``request(reactor, host, port, message, timeout)`` sends ``message`` from a fresh connected
socket and gives the first datagram that comes back. Failures are ``NoAnswer`` with a reason
for a person, worded like the blocking command-line client's: nothing listens, no answer in
time, cannot resolve.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import DatagramProtocol

from herd.core.timers import with_timeout

MAX_DATAGRAM = 65535


class NoAnswer(Exception):
    """A UDP request got no reply; ``str()`` says why."""


class _OneReply(DatagramProtocol):
    def __init__(self, where: str) -> None:
        self.where = where
        self.reply: defer.Deferred[bytes] = defer.Deferred()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if not self.reply.called:
            self.reply.callback(data)

    def connectionRefused(self) -> None:
        if not self.reply.called:
            self.reply.errback(NoAnswer(f"nothing listens on {self.where} (UDP)"))


async def request(reactor: Any, host: str, port: int, message: bytes, timeout: float) -> bytes:
    """Send ``message`` to ``host``:``port`` over UDP; the reply datagram, or ``NoAnswer``."""
    where = f"{host}:{port}"
    try:
        address = await reactor.resolve(host)
    except Exception:
        raise NoAnswer(f"cannot resolve {host}") from None
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    protocol = _OneReply(where)
    listening = reactor.listenUDP(0, protocol, interface="::" if family == socket.AF_INET6 else "")
    try:
        protocol.transport.connect(address, port)
        protocol.transport.write(message)
        return await with_timeout(protocol.reply, timeout, reactor, f"answer from {where}")
    except TimeoutError:
        raise NoAnswer(f"no answer from {where} within {timeout:g} s") from None
    except OSError as error:
        raise NoAnswer(f"cannot reach {where}: {error.strerror or error}") from None
    finally:
        await defer.maybeDeferred(listening.stopListening)
