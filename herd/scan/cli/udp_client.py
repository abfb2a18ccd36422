"""A blocking one-datagram request/reply, for short-lived command-line clients."""

from __future__ import annotations

import socket
from typing import Callable, TypeVar

from herd.protocols.scan import MAX_REPLY

T = TypeVar("T")


class ClientError(Exception):
    """A request got no usable reply; ``str()`` says why, for a person."""


class NoAnswer(ClientError):
    """Nothing answered in time (or the address could not be reached)."""


def ask(server: str, port: int, message: bytes, timeout: float) -> bytes:
    """Send ``message`` to ``server``:``port`` over UDP and return the reply datagram."""
    try:
        infos = socket.getaddrinfo(server, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as error:
        raise NoAnswer(f"cannot resolve {server}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            sock.send(message)
            return sock.recv(MAX_REPLY * 4)
        except socket.timeout:
            raise NoAnswer(f"no answer from {server}:{port} within {timeout:g} s") from None
        except ConnectionRefusedError:
            raise NoAnswer(f"nothing listens on {server}:{port} (UDP)") from None
        except OSError as error:
            raise NoAnswer(f"cannot reach {server}:{port}: {error.strerror}") from None


def query(server: str, port: int, message: bytes, timeout: float, parse: Callable[[bytes], T]) -> T:
    """``ask``, then ``parse`` the reply; a reply ``parse`` refuses is a ClientError."""
    reply = ask(server, port, message, timeout)
    try:
        return parse(reply)
    except ValueError as error:
        raise ClientError(f"the orchestrator answered: {error}") from None
