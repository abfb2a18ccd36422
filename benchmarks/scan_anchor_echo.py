"""Ingest anchor: a bare Twisted ``DatagramProtocol`` that echoes every datagram back.

The ceiling for any Twisted UDP service on this machine: no parsing, no state, no
storage. ``scan_bench.py`` runs it as ``python benchmarks/scan_anchor_echo.py PORT``.
"""

from __future__ import annotations

import sys

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol


class Echo(DatagramProtocol):
    """Send each datagram back to its sender."""

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.transport.write(datagram, addr)


def main() -> None:
    reactor.listenUDP(int(sys.argv[1]), Echo(), interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main()
