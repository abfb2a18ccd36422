"""Test doubles shared by several test modules."""

from __future__ import annotations

from twisted.internet.defer import Deferred

from herd.protocols.scan import CheckRequest


class FakeDatagramTransport:
    """A UDP transport that records what is written, as twisted.names' tests do."""

    def __init__(self) -> None:
        self.written: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.written.append((data, addr))


START = 1_790_000_000.0


class FakeWorkers:
    """Stands in for the TCP checks: records each and lets the test answer it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, CheckRequest, Deferred]] = []

    def __call__(self, host: str, port: int, request: CheckRequest) -> Deferred:
        d: Deferred = Deferred()
        self.sent.append((host, port, request, d))
        return d

    def answer(self, index: int, result: object) -> None:
        self.sent[index][3].callback(result)

    def fail(self, index: int, error: Exception) -> None:
        self.sent[index][3].errback(error)


def check(n: int, ad: str = "IRISH_CSE") -> CheckRequest:
    return CheckRequest(f"http://example.test/file{n}.html", ad, f"S{n}")
