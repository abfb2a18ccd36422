"""The client's decisions: first reply wins, duplicates discarded, retries, giving up."""

from __future__ import annotations

import io
import json

from herd.replication.client.core import ClientCore
from herd.protocols.replication import Assignment, ClientHello, Hello, Reply, Request

from tests.replication.fakes import FakeConn, clock_and_console


def setup(requests: int | None = 3, history: io.StringIO | None = None):
    clock, console = clock_and_console()
    codes: list[int] = []
    client = ClientCore("C1", clock, console, requests=requests, interval=0.5, timeout=2.0,
                        give_up=10.0, history=history, on_done=codes.append)
    rm = FakeConn("RM")
    client.rm_up(rm)
    assert rm.take() == [ClientHello("C1")]
    servers = {s: FakeConn(s) for s in ("S1", "S2", "S3")}
    for name, conn in servers.items():
        client.server_up(name, conn)
        assert conn.take() == [Hello("C1", name)]
    client.start()
    return client, clock, console, rm, servers, codes


def test_active_requests_go_to_every_server_and_later_replies_are_discarded() -> None:
    history = io.StringIO()
    client, clock, console, rm, servers, codes = setup(history=history)
    client.received(rm, Assignment("C1", "active", ("S1", "S2", "S3")))
    clock.advance(0)
    for name, conn in servers.items():
        assert conn.take() == [Request("C1", name, 1, "hello_world1")]
    client.received(servers["S2"], Reply("C1", "S2", 1, 7))
    client.received(servers["S1"], Reply("C1", "S1", 1, 7))
    texts = console.texts()
    assert "Sent <C1, S3, 1, request>" in texts
    assert texts[-3:] == ["Received <C1, S2, 1, reply>", "Received <C1, S1, 1, reply>",
                          "request_num 1: Discarded duplicate reply from S1"]
    line = json.loads(history.getvalue())
    assert (line["request"], line["outcome"], line["value"], line["server"]) == (1, "ok", 7, "S2")
    clock.advance(0.5)
    assert servers["S1"].take() == [Request("C1", "S1", 2, "hello_world2")]


def test_passive_requests_follow_the_primary_the_rm_names() -> None:
    client, clock, console, rm, servers, codes = setup()
    client.received(rm, Assignment("C1", "passive", ("S1",)))
    clock.advance(0)
    assert servers["S1"].take() and not servers["S2"].sent
    client.received(rm, Assignment("C1", "passive", ("S2",)))  # failover: resend at once
    assert servers["S2"].take() == [Request("C1", "S2", 1, "hello_world1")]


def test_a_silent_round_asks_the_rm_again_and_resends() -> None:
    client, clock, console, rm, servers, codes = setup()
    client.received(rm, Assignment("C1", "passive", ("S1",)))
    clock.advance(0)
    servers["S1"].take()
    clock.advance(2.0)
    assert rm.take() == [ClientHello("C1")]
    assert servers["S1"].take() == [Request("C1", "S1", 1, "hello_world1")]


def test_after_three_rounds_and_ten_seconds_all_servers_are_dead() -> None:
    history = io.StringIO()
    client, clock, console, rm, servers, codes = setup(history=history)
    client.received(rm, Assignment("C1", "passive", ("S1",)))
    clock.advance(0)
    for _ in range(4):
        clock.advance(2.0)
    assert codes == []  # 8 s only
    clock.advance(2.0)
    assert codes == [1] and console.texts()[-1] == "all servers are dead"
    assert json.loads(history.getvalue())["outcome"] == "timeout"


def test_it_exits_0_after_n_requests_and_winds_down_on_request() -> None:
    client, clock, console, rm, servers, codes = setup(requests=2)
    client.received(rm, Assignment("C1", "passive", ("S1",)))
    for num in (1, 2):
        clock.advance(0.5)
        client.received(servers["S1"], Reply("C1", "S1", num, num))
    clock.advance(0.5)
    assert codes == [0]
    client2, clock2, _, rm2, servers2, codes2 = setup(requests=None)
    client2.received(rm2, Assignment("C1", "passive", ("S1",)))
    clock2.advance(0)
    client2.wind_down()
    assert codes2 == []  # request 1 is in flight
    client2.received(servers2["S1"], Reply("C1", "S1", 1, 1))
    clock2.advance(0.5)
    assert codes2 == [0]


def test_replies_for_someone_else_or_from_the_wrong_server_are_refused() -> None:
    client, clock, console, rm, servers, codes = setup()
    client.received(rm, Assignment("C1", "passive", ("S1",)))
    clock.advance(0)
    client.received(servers["S1"], Reply("C2", "S1", 1, 1))
    client.received(servers["S1"], Reply("C1", "S2", 1, 1))
    assert client.answered == 0
