"""A blocking one-datagram request/reply, for short-lived command-line clients."""

from __future__ import annotations

import socket

from herd.protocols.scan import MAX_REPLY


class NoAnswer(Exception):
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
