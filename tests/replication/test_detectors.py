"""The LFD and the GFD with a fake clock: heartbeats, deadlines, membership, forwarding."""

from __future__ import annotations

from herd.replication.gfd.detector import GlobalDetector
from herd.replication.lfd.detector import LocalDetector
from herd.protocols.replication import (
    Heartbeat, Hello, Launch, Membership, Ready, Role, SendCheckpoint,
)

from tests.replication.fakes import FakeConn, clock_and_console, cluster


def lfd_setup(launches: list[int] | None = None):
    clock, console = clock_and_console()
    lfd = LocalDetector("LFD1", cluster(), clock, console, 0.5,
                        launch=(lambda: launches.append(1)) if launches is not None else None)
    lfd.start()
    replica, gfd = FakeConn("S1"), FakeConn("GFD")
    lfd.gfd_up(gfd)
    lfd.replica_up(replica)
    return lfd, clock, console, replica, gfd


def test_the_lfd_heartbeats_its_replica_and_adds_it_on_the_first_answer() -> None:
    lfd, clock, console, replica, gfd = lfd_setup()
    assert replica.take() == [Hello("LFD1", "S1"), Heartbeat("LFD1", "S1", 1)]
    assert gfd.take() == [Hello("LFD1", "GFD")]
    lfd.received(replica, Heartbeat("S1", "LFD1", 1))
    assert gfd.take() == [Membership("LFD1", "S1", "add")]
    clock.advance(0.5)
    assert replica.take() == [Heartbeat("LFD1", "S1", 2)]
    assert "[1] LFD1 sending heartbeat to S1" in console.texts()
    assert "[1] LFD1 receives heartbeat from S1" in console.texts()
    assert "LFD1: add replica S1" in console.texts()


def test_a_missed_deadline_deletes_the_replica_once() -> None:
    lfd, clock, console, replica, gfd = lfd_setup()
    lfd.received(replica, Heartbeat("S1", "LFD1", 1))
    gfd.take()
    for _ in range(12):
        clock.advance(0.125)  # 1.5 s of silence: deadline 2 x 0.5 s
    assert gfd.take() == [Membership("LFD1", "S1", "delete")]
    assert "S1 has died" in console.texts()
    assert "LFD1: delete replica S1" in console.texts()
    clock.advance(2)
    assert gfd.take() == []
    lfd.received(replica, Heartbeat("S1", "LFD1", 9))  # back (relaunched)
    assert gfd.take() == [Membership("LFD1", "S1", "add")]


def test_the_lfd_forwards_the_rms_orders_and_relaunches_on_request() -> None:
    launches: list[int] = []
    lfd, clock, console, replica, gfd = lfd_setup(launches)
    assert launches == [1]
    replica.take()
    gfd.take()
    lfd.received(gfd, Role("S1", "passive", "primary", True))
    lfd.received(gfd, SendCheckpoint("S1", "S2"))
    lfd.received(gfd, SendCheckpoint("S2", "S1"))  # not for its replica: refused
    assert replica.take() == [Role("S1", "passive", "primary", True), SendCheckpoint("S1", "S2")]
    lfd.received(gfd, Launch("S1"))
    assert launches == [1, 1]
    assert "LFD1: relaunching replica S1" in console.texts()
    lfd.received(gfd, Heartbeat("GFD", "LFD1", 3))
    assert gfd.take() == [Heartbeat("LFD1", "GFD", 3)]
    lfd.received(replica, Ready("S1"))
    assert gfd.take() == [Ready("S1")]


def gfd_setup():
    clock, console = clock_and_console()
    gfd = GlobalDetector(cluster(), clock, console, 1.0)
    gfd.start()
    rm = FakeConn("RM")
    gfd.rm_up(rm)
    rm.take()
    return gfd, clock, console, rm


def test_the_gfd_keeps_the_membership_and_tells_the_rm() -> None:
    gfd, clock, console, rm = gfd_setup()
    assert console.texts()[0] == "GFD: 0 members"
    l1, l2 = FakeConn("a"), FakeConn("b")
    gfd.received(l1, Hello("LFD1", "GFD"))
    gfd.received(l2, Hello("LFD2", "GFD"))
    gfd.received(l1, Membership("LFD1", "S1", "add"))
    gfd.received(l2, Membership("LFD2", "S2", "add"))
    assert "GFD: 1 member: S1" in console.texts()
    assert "GFD: 2 members: S1, S2" in console.texts()
    assert rm.take() == [Membership("GFD", "S1", "add"), Membership("GFD", "S2", "add")]
    gfd.received(l1, Membership("LFD1", "S2", "delete"))  # LFD1 does not watch S2
    assert rm.take() == [] and "GFD: 2 members: S1, S2" == console.texts()[-2]
    clock.advance(1.0)
    assert l1.take() == [Heartbeat("GFD", "LFD1", 1)]
    assert "[1] GFD sending heartbeat to LFD1" in console.texts()
    gfd.received(l1, Heartbeat("LFD1", "GFD", 1))
    assert "[1] GFD receives heartbeat from LFD1" in console.texts()


def test_a_silent_lfd_takes_its_replica_out_of_the_membership() -> None:
    gfd, clock, console, rm = gfd_setup()
    l1 = FakeConn("a")
    gfd.received(l1, Hello("LFD1", "GFD"))
    gfd.received(l1, Membership("LFD1", "S1", "add"))
    rm.take()
    for _ in range(10):
        clock.advance(0.25)
    assert "LFD1 has died" in console.texts() and l1.closed
    assert rm.take() == [Membership("GFD", "S1", "delete")]
    assert console.texts()[-1] == "GFD: 0 members"


def test_the_gfd_routes_orders_to_the_lfd_of_the_named_replica() -> None:
    gfd, clock, console, rm = gfd_setup()
    l1, l2 = FakeConn("a"), FakeConn("b")
    gfd.received(l1, Hello("LFD1", "GFD"))
    gfd.received(l2, Hello("LFD2", "GFD"))
    gfd.received(rm, SendCheckpoint("S2", "S1"))
    gfd.received(rm, Launch("S1"))
    gfd.received(rm, Launch("S9"))
    assert l2.take() == [SendCheckpoint("S2", "S1")]
    assert l1.take() == [Launch("S1")]
    stranger = FakeConn("x")
    gfd.received(stranger, Membership("LFD9", "S9", "add"))
    gfd.received(stranger, Hello("LFD9", "GFD"))
    assert gfd.members.members == [] and stranger.peer is None


def test_a_replica_that_never_answered_is_relaunched_by_its_lfd_alone() -> None:
    launches: list[int] = []
    lfd, clock, console, replica, gfd = lfd_setup(launches)
    lfd.exited("exit status 1")
    clock.advance(2.5)
    assert launches == [1, 1]
    lfd.received(replica, Heartbeat("S1", "LFD1", 1))  # a member now
    lfd.exited("exit status -9")  # the RM decides for members
    lfd.exited("exit status -15", expected=True)
    clock.advance(10)
    assert launches == [1, 1]
