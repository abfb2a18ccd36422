"""Test doubles shared by several test modules."""

from __future__ import annotations


class FakeDatagramTransport:
    """A UDP transport that records what is written, as twisted.names' tests do."""

    def __init__(self) -> None:
        self.written: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.written.append((data, addr))
