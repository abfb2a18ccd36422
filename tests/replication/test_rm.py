"""The replication manager's decisions."""

from __future__ import annotations

from herd.replication.rm.manager import Manager
from herd.protocols.replication import (
    Assignment, ClientHello, Hello, Launch, Membership, Ready, Role, SendCheckpoint,
)

from tests.replication.fakes import FakeConn, clock_and_console, cluster


def setup(mode: str = "passive"):
    clock, console = clock_and_console()
    rm = Manager(cluster(), console, mode)
    gfd = FakeConn("gfd")
    rm.received(gfd, Hello("GFD", "RM"))
    return rm, console, gfd


def add(rm: Manager, gfd: FakeConn, replica: str) -> None:
    rm.received(gfd, Membership("GFD", replica, "add"))


def test_the_first_replica_is_primary_and_the_others_recover_from_it() -> None:
    rm, console, gfd = setup()
    assert console.texts()[0] == "RM: 0 members"
    add(rm, gfd, "S2")
    assert gfd.take() == [Role("S2", "passive", "primary", True, epoch=1)]
    assert "RM: 1 member: S2" in console.texts()
    add(rm, gfd, "S1")
    assert gfd.take() == [Role("S1", "passive", "backup", False), SendCheckpoint("S2", "S1")]
    assert "RM: 2 members: S1, S2" in console.texts()
    add(rm, gfd, "S1")  # again: nothing
    assert gfd.take() == []


def test_the_primarys_death_promotes_a_ready_backup_relaunches_and_tells_clients() -> None:
    rm, console, gfd = setup()
    for replica in ("S1", "S2", "S3"):
        add(rm, gfd, replica)
    c1 = FakeConn("c1")
    rm.received(c1, ClientHello("C1"))
    assert c1.take() == [Assignment("C1", "passive", ("S1",))]
    rm.received(gfd, Ready("S3"))
    gfd.take()
    rm.received(gfd, Membership("GFD", "S1", "delete"))
    assert gfd.take() == [Role("S3", "passive", "primary", True, epoch=2),
                          Role("S2", "passive", "backup", False), SendCheckpoint("S3", "S2"),
                          Launch("S1")]
    assert c1.take() == [Assignment("C1", "passive", ("S3",))]
    assert "RM: S3 is the new primary" in console.texts()


def test_active_clients_get_every_member() -> None:
    rm, console, gfd = setup("active")
    add(rm, gfd, "S1")
    add(rm, gfd, "S3")
    assert gfd.take()[0] == Role("S1", "active", "primary", True, epoch=1)
    c2 = FakeConn("c2")
    rm.received(c2, ClientHello("C2"))
    assert c2.take() == [Assignment("C2", "active", ("S1", "S3"))]
    rm.received(gfd, Membership("GFD", "S3", "delete"))
    assert c2.take() == [Assignment("C2", "active", ("S1",))]


def test_strangers_are_refused_and_change_nothing() -> None:
    rm, console, gfd = setup()
    c9 = FakeConn("c9")
    rm.received(c9, ClientHello("C9"))
    rm.received(c9, Membership("GFD", "S1", "add"))  # not from the GFD's connection
    rm.received(gfd, Membership("GFD", "S9", "add"))
    assert c9.sent == [] and gfd.sent == [] and len(rm.members) == 0
    assert sum("refused" in line for line in console.texts()) == 3
