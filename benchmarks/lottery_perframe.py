#!/usr/bin/env python3
"""Python CPU per one-bet frame in herd's lottery server, without sockets or disk.

Feeds 20,000 one-bet BET_BATCH frames from 5 agencies to ``LotteryConnection``s over
``StringTransport``s, the service and a ``GroupCommit`` whose write does nothing, ending a
reactor turn (``Clock.advance(0)``) after every 5 frames; prints microseconds per frame
(dataReceived -> parse -> service -> group -> ACKNOWLEDGE written). The anchor is the same
loop feeding the frames to a bare ``FrameParser`` (the floor of any Python server).

    .venv/bin/python benchmarks/lottery_perframe.py [--profile]
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet.defer import succeed  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from herd.lottery.server.commit import GroupCommit  # noqa: E402
from herd.lottery.server.connection import LotteryFactory  # noqa: E402
from herd.lottery.server.service import LotteryService  # noqa: E402
from herd.lottery.server.store import Recovered  # noqa: E402
from herd.protocols.lottery import ClientFrame, ClientKind, FrameParser, encode_batch  # noqa: E402

FRAMES = 20_000
AGENCIES = 5


def frames() -> list[list[bytes]]:
    """One-bet BET_BATCH frames, each agency's own."""
    return [[ClientFrame(ClientKind.BET_BATCH, agency, encode_batch(
        [f"Santiago Lionel,Lorca,{30904465 + i * AGENCIES + agency},1999-03-17,{i % 10000}".encode()]
    )).encode() for i in range(FRAMES // AGENCIES)] for agency in range(1, AGENCIES + 1)]


def server_loop(data: list[list[bytes]]) -> float:
    """Seconds for the server's Python to take every frame and write its ACKNOWLEDGE."""
    clock = Clock()
    commit = GroupCommit(lambda bets, ends: None, lambda f, *a: succeed(f(*a)), clock, 0.002)
    service = LotteryService(AGENCIES, Recovered(), commit, lambda w, b: succeed(None),
                             per_frame_logs=False)
    factory = LotteryFactory(service, clock)
    connections = []
    for _ in range(AGENCIES):
        connection, transport = factory.buildProtocol(None), StringTransport()
        connection.makeConnection(transport)
        connections.append((connection, transport))
    started = time.perf_counter()
    for i in range(FRAMES // AGENCIES):
        for agency in range(AGENCIES):
            connections[agency][0].dataReceived(data[agency][i])
        clock.advance(0)
    elapsed = time.perf_counter() - started
    acks = sum(len(transport.value()) for _, transport in connections) // 9
    assert acks == FRAMES and commit.groups == FRAMES // AGENCIES, (acks, commit.groups)
    return elapsed


def parser_loop(data: list[list[bytes]]) -> float:
    """Seconds for bare ``FrameParser``s to cut the same frames (the anchor)."""
    parsers = [FrameParser() for _ in range(AGENCIES)]
    started = time.perf_counter()
    for i in range(FRAMES // AGENCIES):
        for agency in range(AGENCIES):
            for _ in parsers[agency].feed(data[agency][i]):
                pass
    return time.perf_counter() - started


def main() -> int:
    data = frames()
    if "--profile" in sys.argv:
        profile = cProfile.Profile()
        profile.runcall(server_loop, data)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    server = min(server_loop(data) for _ in range(5))
    parser = min(parser_loop(data) for _ in range(5))
    print(f"server {server / FRAMES * 1e6:.1f} us/frame, bare parser {parser / FRAMES * 1e6:.1f} "
          f"us/frame, ratio {server / parser:.1f}x (best of 5, {FRAMES:,} one-bet frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
