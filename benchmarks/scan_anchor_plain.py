"""Ingest reference: a plain-socket orchestrator keeping its queue in a Python list.

What a student writes first: one blocking UDP socket, ``CHECK <URL> <AdID> <SiteID>``
split and checked by hand, the job appended to an in-memory list (lost on a crash),
``200 OK <id>`` sent back; ``STATUS`` answers ``200 STATUS <queued>``. No durability, no
workers. ``scan_bench.py`` runs it as ``python benchmarks/scan_anchor_plain.py PORT``.
"""

from __future__ import annotations

import socket
import sys
from urllib.parse import urlsplit


def handle(datagram: bytes, jobs: list[tuple[str, str, str]]) -> bytes:
    """One request, its reply."""
    try:
        words = datagram.decode("ascii").split()
    except UnicodeDecodeError:
        return b"400 ERROR not ASCII"
    if words[:1] == ["STATUS"]:
        return b"200 STATUS %d" % len(jobs)
    if len(words) != 4 or words[0] != "CHECK":
        return b"400 ERROR expected CHECK <URL> <AdID> <SiteID>"
    url = urlsplit(words[1])
    if url.scheme not in ("http", "https") or not url.hostname:
        return b"400 ERROR bad URL"
    jobs.append((words[1], words[2], words[3]))
    return b"200 OK %d" % len(jobs)


def main() -> None:
    jobs: list[tuple[str, str, str]] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    while True:
        datagram, peer = sock.recvfrom(2048)
        sock.sendto(handle(datagram, jobs), peer)


if __name__ == "__main__":
    main()
