"""The server's store, group commit, service and connection, in memory and on a temp dir."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Callable

import pytest
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, globalLogPublisher

from herd.lottery.server.commit import GroupCommit
from herd.testing.lottery import EagerClock
from herd.lottery.server.connection import LotteryFactory
from herd.lottery.server.service import LotteryService, Refused
from herd.lottery.server.store import BetStore
from herd.protocols.lottery import (
    NOT_YET,
    ClientFrame,
    ClientKind,
    ServerFrameParser,
    ServerKind,
    encode_batch,
    bet_text,
    parse_bet,
    parse_documents,
    parse_uint32,
)

WIN = b"Ana,Paz,00000042,2000-02-29,7574"
LOSE = b"Juan,Perez,30904465,1999-03-17,2201"


def bets(*raw: bytes) -> list:
    return [bet_text(b) for b in raw]


def result(d: Deferred) -> Any:
    out: list = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]


class Held:
    """Runs writes only when told: to see which frames share one group."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable, tuple, Deferred]] = []

    def __call__(self, f: Callable, *args: Any) -> Deferred:
        d: Deferred = Deferred()
        self.calls.append((f, args, d))
        return d

    def release(self) -> None:
        f, args, d = self.calls.pop(0)
        f(*args)
        d.callback(None)


def make(tmp_path: Path, agencies: int = 2, run: Callable = maybeDeferred,
         clock: Any = None, linger: float = 0.0) -> tuple[LotteryService, BetStore]:
    store = BetStore(tmp_path, 7574)
    recovered = store.recover()
    commit = GroupCommit(store.append, run, clock or EagerClock(), linger)
    service = LotteryService(agencies, recovered, commit,
                             lambda w, n: maybeDeferred(store.record_draw, w, n))
    return service, store


def test_bets_are_on_disk_before_the_ack_and_the_draw_happens_once(tmp_path: Path) -> None:
    service, store = make(tmp_path)
    assert result(service.batch(1, bets(WIN, LOSE))) == 2
    assert (tmp_path / "bets.csv").read_text() == (
        "1,Ana,Paz,00000042,2000-02-29,7574\n1,Juan,Perez,30904465,1999-03-17,2201\n")
    assert result(service.post_bet(2, parse_bet(WIN))) == 7574
    assert service.winners(1) is None
    assert result(Deferred.fromCoroutine(service.end(1))) == 2
    assert not service.drawn
    assert result(Deferred.fromCoroutine(service.end(2))) == 1
    assert service.winners(1) == ["00000042"] and service.winners(2) == ["00000042"]
    draw = json.loads((tmp_path / "draw.json").read_text())
    assert draw["winners"] == {"1": ["00000042"], "2": ["00000042"]}
    store.close()

    again, store = make(tmp_path)  # a restart on the same store
    result(Deferred.fromCoroutine(again.start()))
    assert again.drawn and again.winners(2) == ["00000042"]
    assert again.stored(1) == 2
    assert result(Deferred.fromCoroutine(again.end(1))) == 2  # a second END: same total
    with pytest.raises(Refused, match="already ended"):
        result(again.batch(1, bets(b"New,Bet,1,2000-01-01,1")))
    assert result(again.batch(1, bets(WIN))) == 1  # a replay: acked
    assert (tmp_path / "bets.csv").read_text().count("\n") == 3
    store.close()


def test_a_name_with_quotes_is_stored_as_csv(tmp_path: Path) -> None:
    service, store = make(tmp_path, 1)
    result(service.batch(1, bets(b'Juan "Pepe",O\'Neil,1,2000-01-01,0007574')))
    assert (tmp_path / "bets.csv").read_text() == '1,"Juan ""Pepe""",O\'Neil,1,2000-01-01,7574\n'
    store.close()
    again, store = make(tmp_path, 1)
    assert again.stored(1) == 1
    assert result(again.batch(1, bets(b'Juan "Pepe",O\'Neil,1,2000-01-01,7574'))) == 1
    assert again.stored(1) == 1  # the same bet: stored once
    store.close()


def test_a_resent_bet_is_stored_once(tmp_path: Path) -> None:
    service, store = make(tmp_path, 1)
    result(service.batch(1, bets(WIN, LOSE)))
    assert result(service.batch(1, bets(LOSE, WIN, LOSE))) == 3
    assert service.stored(1) == 2
    assert (tmp_path / "bets.csv").read_text().count("\n") == 2
    store.close()


def test_frames_of_one_turn_and_those_arriving_during_a_write_share_a_group(tmp_path: Path) -> None:
    """(With a writer thread, and a 2 ms linger for the senders of the last group.)"""
    held, clock = Held(), Clock()
    service, store = make(tmp_path, 3, held, clock, linger=0.002)
    first = [service.batch(a, bets(WIN)) for a in (1, 2)]
    assert held.calls == []
    clock.advance(0)  # the end of the reactor turn: one write for both
    assert len(held.calls) == 1
    others = [service.batch(3, bets(LOSE))]
    clock.advance(0)
    assert len(held.calls) == 1  # one write at a time
    held.release()
    assert [result(d) for d in first] == [1, 1] and not others[0].called
    clock.advance(0.002)  # one sender of the two of the last group came back: 2 ms later
    held.release()
    assert result(others[0]) == 1
    assert service._commit.groups == 2
    store.close()


def test_the_next_group_waits_briefly_for_the_senders_of_the_last(tmp_path: Path) -> None:
    """(With a 2 ms linger; the server's default is none.)"""
    held, clock = Held(), Clock()
    service, store = make(tmp_path, 3, held, clock, linger=0.002)

    def send(agency: int, document: int) -> Deferred:
        return service.batch(agency, bets(f"Eva,Gil,{document},1990-01-01,3".encode()))

    first, second = send(1, 1), send(2, 2)
    clock.advance(0)
    held.release()  # a group of 2: the next one waits for 2 senders
    assert first.called and second.called
    third = send(2, 3)
    clock.advance(0.001)
    assert held.calls == []
    fourth = send(1, 4)  # the second sender is back: written at the end of the turn
    clock.advance(0)
    assert len(held.calls) == 1
    held.release()
    assert third.called and fourth.called
    fifth = send(3, 5)
    clock.advance(0.0015)
    assert held.calls == []
    clock.advance(0.0005)  # ...or 2 ms after the first one at most
    assert len(held.calls) == 1
    held.release()
    assert result(fifth) == 1
    assert service._commit.groups == 3
    store.close()


def test_the_wait_for_stragglers_is_never_longer_than_a_write() -> None:
    """(With ``timer``: writes measured at 0.5 ms cap the 2 ms linger at 0.5 ms.)"""
    clock, written, ticks = Clock(), [], iter(range(1000))
    commit = GroupCommit(lambda bets, ends: written.append(bets), maybeDeferred, clock, 0.002,
                         timer=lambda: next(ticks) * 0.0005)
    assert commit.write_time == 0.002
    for _ in range(16):  # groups of 2; each write "takes" 0.5 ms: the average comes down
        pair = [commit.submit(b"a\n"), commit.submit(b"b\n")]
        clock.advance(0)
        assert all(d.called for d in pair)
    assert 0.0005 <= commit.write_time < 0.0006
    lone = commit.submit(b"c\n")  # one sender of the two is back
    clock.advance(0.0004)
    assert not lone.called
    clock.advance(0.0002)  # waited about one write's time, not 2 ms
    assert lone.called and commit.groups == 17


def test_without_linger_each_turn_is_a_group(tmp_path: Path) -> None:
    held, clock = Held(), Clock()
    service, store = make(tmp_path, 3, held, clock)
    first = [service.batch(a, bets(f"Eva,Gil,{a},1990-01-01,3".encode())) for a in (1, 2)]
    clock.advance(0)
    held.release()
    third = service.batch(3, bets(LOSE))
    clock.advance(0)  # no wait for the two senders of the last group
    assert len(held.calls) == 1
    held.release()
    assert all(d.called for d in [*first, third]) and service._commit.groups == 2
    store.close()


def test_a_torn_last_line_is_cut_at_restart(tmp_path: Path) -> None:
    service, store = make(tmp_path, 1)
    result(service.batch(1, bets(WIN)))
    store.close()
    with open(tmp_path / "bets.csv", "ab") as stream:
        stream.write(b"1,Juan,Per")
    again, store = make(tmp_path, 1)
    assert again.stored(1) == 1
    assert (tmp_path / "bets.csv").read_bytes().endswith(b"7574\n")
    store.close()


def test_a_draw_lost_in_a_crash_is_held_at_restart(tmp_path: Path) -> None:
    store = BetStore(tmp_path, 7574)
    store.recover()
    store.append(b"1,Ana,Paz,00000042,2000-02-29,7574\n", [(1, 1)])
    store.close()
    service, store = make(tmp_path, 1)
    assert not service.drawn
    result(Deferred.fromCoroutine(service.start()))
    assert service.winners(1) == ["00000042"]
    store.close()


# The connection.


@pytest.fixture
def events() -> Any:
    seen: list[dict] = []
    globalLogPublisher.addObserver(seen.append)
    yield seen
    globalLogPublisher.removeObserver(seen.append)


def fails(events: list[dict]) -> list[dict]:
    return [e for e in events if "result: fail" in e.get("log_format", "")]


def connect(service: LotteryService) -> tuple[Any, StringTransport]:
    factory = LotteryFactory(service, Clock())
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def answers(transport: StringTransport) -> list:
    return ServerFrameParser().feed(transport.value())


def test_a_connection_answers_every_kind_in_order(tmp_path: Path) -> None:
    service, store = make(tmp_path, 1)
    protocol, transport = connect(service)
    protocol.dataReceived(
        ClientFrame(ClientKind.POST_BET, 1, LOSE).encode()
        + ClientFrame(ClientKind.BET_BATCH, 1, encode_batch([WIN, b"Eva,Gil,7,1990-01-01,3"])).encode()
        + ClientFrame(ClientKind.GET_WINNERS, 1).encode()
        + ClientFrame(ClientKind.BET_BATCH_END, 1).encode()
        + ClientFrame(ClientKind.GET_WINNERS, 1).encode()
    )
    out = answers(transport)
    assert [parse_uint32(f) for f in out[:2]] == [2201, 2]
    assert out[2] == NOT_YET
    assert parse_uint32(out[3]) == 3
    assert out[4].kind is ServerKind.BETTING_RESULTS and parse_documents(out[4].payload) == ["00000042"]
    assert not transport.disconnecting
    store.close()


BAD = [
    (struct.pack("<BII", 1, 1, 8184), 0, "over the limit"),
    (struct.pack("<BII", 5, 1, 0), 0, "unknown frame kind 5"),
    (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,42,2000-01-01").encode(), 1, "4 fields"),
    (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,4a2,2000-01-01,1").encode(), 1, "document"),
    (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,42,2000-01-01,x").encode(), 1, "number"),
    (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,42,2000-02-30,1").encode(), 1, "valid date"),
    (ClientFrame(ClientKind.POST_BET, 3, LOSE).encode(), 1, "agency id 3 outside 1..2"),
    (ClientFrame(ClientKind.GET_WINNERS, 0).encode(), 0, "agency id 0 outside"),
    (ClientFrame(ClientKind.POST_BET, 1, b"\xff\xfe,Paz,42,2000-01-01,1").encode(), 1, "not UTF-8"),
    (ClientFrame(ClientKind.BET_BATCH, 1, encode_batch([LOSE, b"x,y,1,2000-01-01"])).encode(), 2, "bet 2 of 2"),
    (ClientFrame(ClientKind.BET_BATCH_END, 1, b"x").encode(), 0, "carries no payload"),
]


@pytest.mark.parametrize("data, count, says", BAD)
def test_malformed_frames_are_logged_stored_nowhere_and_closed(
    tmp_path: Path, events: list, data: bytes, count: int, says: str
) -> None:
    service, store = make(tmp_path)
    protocol, transport = connect(service)
    protocol.dataReceived(ClientFrame(ClientKind.POST_BET, 2, WIN).encode() + data
                          + ClientFrame(ClientKind.POST_BET, 2, LOSE).encode())
    assert [parse_uint32(f) for f in answers(transport)] == [7574]  # the frame before: answered
    assert transport.disconnecting
    [event] = fails(events)
    assert event["cantidad"] == count and says in event["error"]
    assert event["log_level"] == LogLevel.warn
    assert (tmp_path / "bets.csv").read_text() == "2,Ana,Paz,00000042,2000-02-29,7574\n"
    store.close()


def test_a_truncated_frame_then_a_close_is_logged(tmp_path: Path, events: list) -> None:
    service, store = make(tmp_path)
    protocol, transport = connect(service)
    protocol.dataReceived(ClientFrame(ClientKind.POST_BET, 1, LOSE).encode()[:-3])
    protocol.connectionLost(None)
    [event] = fails(events)
    assert "truncated POST_BET frame" in event["error"] and event["cantidad"] == 0
    assert (tmp_path / "bets.csv").read_text() == ""
    store.close()


def test_a_refused_frame_waits_for_earlier_answers_before_closing(tmp_path: Path) -> None:
    held, clock = Held(), Clock()
    service, store = make(tmp_path, 1, held, clock)
    protocol, transport = connect(service)
    protocol.dataReceived(ClientFrame(ClientKind.POST_BET, 1, WIN).encode() + struct.pack("<BII", 8, 1, 0))
    assert not transport.disconnecting and transport.value() == b""
    clock.advance(0)
    held.release()
    assert [parse_uint32(f) for f in answers(transport)] == [7574]
    assert transport.disconnecting
    store.close()
