"""An agency's run against the real service in memory, with a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from herd.lottery.agency.agency import Agency, AgencyError, Stopped, read_dataset
from herd.lottery.agency.config import load_agency_config
from herd.lottery.server.commit import GroupCommit
from herd.lottery.server.connection import LotteryFactory
from herd.lottery.server.service import LotteryService
from herd.lottery.server.store import BetStore
from herd.testing.lottery import EagerClock
from herd.protocols.lottery import ClientFrame, ClientKind, ServerFrame, ServerFrameParser


class MemoryLink:
    """Each frame on a connection of its own to a LotteryConnection in memory."""

    def __init__(self, service: LotteryService) -> None:
        self.factory = LotteryFactory(service, Clock())
        self.sent: list[ClientFrame] = []

    def stop(self) -> None:
        pass

    async def ask(self, frame: ClientFrame) -> ServerFrame:
        self.sent.append(frame)
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(frame.encode())
        [answer] = ServerFrameParser().feed(transport.value())
        return answer


@pytest.fixture
def service(tmp_path: Path) -> LotteryService:
    store = BetStore(tmp_path / "store", 7574)
    recovered = store.recover()
    return LotteryService(2, recovered, GroupCommit(store.append, maybeDeferred, EagerClock()),
                          lambda w, n: maybeDeferred(store.record_draw, w, n))


def dataset(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "agency.csv"
    path.write_bytes("\r\n".join(rows).encode() + b"\r\n")
    return path


def agency(tmp_path: Path, service: LotteryService, clock: Clock, env: dict, ident: int = 1) -> Agency:
    config = load_agency_config({"id": str(ident), "max_amount": "2"}, env, None, tmp_path)
    return Agency(config, MemoryLink(service), clock)  # type: ignore[arg-type]


def test_an_agency_sends_its_bets_then_waits_for_the_draw(tmp_path: Path, service: LotteryService) -> None:
    rows = ["Ana,Paz,00000042,2000-02-29,7574", "Eva,Gil,7,1990-01-01,3", "Luz,Sol,8,1990-01-01,7574"]
    bets = read_dataset(dataset(tmp_path, rows))
    clock = Clock()
    env = {"CLI_BETTOR_NOMBRE": "Juan", "CLI_BETTOR_APELLIDO": "Perez", "CLI_BETTOR_DOCUMENTO": "99",
           "CLI_BETTOR_NACIMIENTO": "1980-05-05", "CLI_BETTOR_NUMERO": "7574"}
    one = agency(tmp_path, service, clock, env)
    done = Deferred.fromCoroutine(one.run(bets))
    kinds = [frame.kind for frame in one.link.sent]  # type: ignore[attr-defined]
    assert kinds == [ClientKind.POST_BET, ClientKind.BET_BATCH, ClientKind.BET_BATCH,
                     ClientKind.BET_BATCH_END, ClientKind.GET_WINNERS]
    assert not done.called
    clock.advance(0.1)
    clock.advance(0.2)
    assert len(one.link.sent) == 7  # type: ignore[attr-defined]
    other = agency(tmp_path, service, clock, {}, 2)
    Deferred.fromCoroutine(other.run([]))  # the last agency ends: the draw
    assert other.winners == []
    clock.advance(0.4)
    assert one.winners == ["99", "00000042", "8"]
    assert done.called


def test_sigterm_stops_an_agency_between_frames(tmp_path: Path, service: LotteryService) -> None:
    clock = Clock()
    one = agency(tmp_path, service, clock, {"CLI_LOOP_PERIOD": "1s"})
    done = Deferred.fromCoroutine(one.run([b"Eva,Gil,7,1990-01-01,3"] * 3))
    assert len(one.link.sent) == 1  # type: ignore[attr-defined]
    one.stop()
    failures: list = []
    done.addErrback(failures.append)
    assert failures and failures[0].check(Stopped)
    assert len(one.link.sent) == 1  # type: ignore[attr-defined]


def test_a_bad_data_set_line_is_refused_with_its_number(tmp_path: Path) -> None:
    path = dataset(tmp_path, ["Ana,Paz,42,2000-02-29,7574", "Eva,Gil,7,1990-13-01,3"])
    with pytest.raises(AgencyError, match="line 2: birth date"):
        read_dataset(path)
    with pytest.raises(AgencyError, match="No such file"):
        read_dataset(tmp_path / "missing.csv")


def test_a_link_resends_on_a_new_connection_and_stops_trying_when_told() -> None:
    from twisted.internet.defer import fail as failed
    from twisted.internet.error import ConnectionRefusedError

    from herd.lottery.agency.connection import Link, LinkError, LinkStopped

    clock, attempts = Clock(), []

    def refuse(endpoint: object, protocol: object) -> Deferred:
        attempts.append(clock.seconds())
        return failed(ConnectionRefusedError())

    link = Link(object(), clock, 2.0, refuse)  # type: ignore[arg-type]
    asked = Deferred.fromCoroutine(link.ask(ClientFrame(ClientKind.GET_WINNERS, 1)))
    clock.advance(0.05)
    clock.advance(0.1)
    assert attempts == pytest.approx([0.0, 0.05, 0.15])  # backing off: 0.05 s, 0.1 s, ...
    for _ in range(10):
        clock.advance(1.0)
    errors: list = []
    asked.addErrback(errors.append)
    assert errors[0].check(LinkError)  # given up after its 2 s
    again = Deferred.fromCoroutine(link.ask(ClientFrame(ClientKind.GET_WINNERS, 1)))
    link.stop()  # SIGTERM while it waits to try again
    again.addErrback(errors.append)
    assert errors[1].check(LinkStopped)
