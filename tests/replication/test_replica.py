"""The replica's decisions, with a fake clock and fake connections."""

from __future__ import annotations

from herd.replication.replica.server import Replica
from herd.protocols.replication import (
    Ack, Checkpoint, Heartbeat, Hello, LogEntry, Ready, Reply, Request, Role, SendCheckpoint,
)

from tests.replication.fakes import FakeConn, clock_and_console, cluster


def make(name: str = "S1", mode: str = "passive", role: str = "primary", ready: bool = True,
         peers: tuple[str, ...] = ()):
    clock, console = clock_and_console()
    replica = Replica(name, cluster(), clock, console, checkpoint_freq=2.0, ack_timeout=3.0)
    lfd = FakeConn("lfd")
    replica.received(lfd, Hello("LFD" + name[1:], name))
    links = {}
    for peer in peers:
        links[peer] = FakeConn(peer)
        replica.peer_up(peer, links[peer])
        links[peer].take()
    if role:
        replica.received(lfd, Role(name, mode, role, ready))
    for conn in links.values():
        conn.take()
    lfd.take()
    return replica, clock, console, lfd, links


def request(replica: Replica, client: str, num: int, conn: FakeConn | None = None) -> FakeConn:
    conn = conn or FakeConn(client)
    replica.received(conn, Request(client, replica.name, num, f"hello_world{num}"))
    return conn


def test_the_first_replica_is_ready_and_answers_with_the_counter() -> None:
    replica, clock, console, lfd, _ = make()
    assert "Server is ready" in console.texts()
    assert "[passive] [primary]" in console.texts()
    c1 = request(replica, "C1", 101)
    assert c1.sent == [Reply("C1", "S1", 101, 1)]
    assert console.texts()[-4:] == [
        "Received <C1, S1, 101, request>",
        "my_state_S1 = 0 before processing <C1, S1, 101, request>",
        "my_state_S1 = 1 after processing <C1, S1, 101, request>",
        "Sending <C1, S1, 101, reply>",
    ]
    assert console.lines[-1].startswith("[") and console.lines[-1][9:11] == "] "


def test_heartbeats_are_answered_and_printed() -> None:
    replica, clock, console, lfd, _ = make()
    replica.received(lfd, Heartbeat("LFD1", "S1", 7))
    assert lfd.sent == [Heartbeat("S1", "LFD1", 7)]
    assert console.texts()[-1] == "[7] S1 receives heartbeat from LFD1"


def test_a_retried_request_is_answered_again_but_applied_once() -> None:
    replica, *_ = make()
    c1 = request(replica, "C1", 1)
    request(replica, "C1", 1, c1)
    assert c1.sent == [Reply("C1", "S1", 1, 1), Reply("C1", "S1", 1, 1)]
    assert replica.my_state == 1
    request(replica, "C1", 0, c1)  # older than the last: ignored
    assert len(c1.sent) == 2 and replica.my_state == 1


def test_the_primary_answers_only_once_its_synced_backups_hold_the_log_entry() -> None:
    replica, clock, console, lfd, links = make(peers=("S2", "S3"))
    assert replica.synced == {"S2", "S3"}  # the promotion's checkpoint synced both
    replica.peer_down("S3")
    replica.peer_up("S3", links["S3"])  # back up, but it missed what came meanwhile
    links["S3"].take()
    assert replica.synced == {"S2"}
    replica.send_checkpoint("S2")
    assert isinstance(links["S2"].take()[0], Checkpoint)
    c1 = request(replica, "C1", 5)
    assert links["S2"].sent == [LogEntry("S1", "S2", "C1", 5, 1)]
    assert links["S3"].sent == []
    assert c1.sent == []
    replica.received(links["S2"], Ack("S2", "S1", 1))
    assert c1.sent == [Reply("C1", "S1", 5, 1)]


def test_a_backup_that_dies_is_not_waited_for() -> None:
    replica, clock, console, lfd, links = make(peers=("S2",))
    replica.send_checkpoint("S2")
    c1 = request(replica, "C1", 1)
    replica.peer_down("S2")
    assert c1.sent == [Reply("C1", "S1", 1, 1)]


def test_an_ack_that_never_comes_times_out() -> None:
    replica, clock, console, lfd, links = make(peers=("S2",))
    replica.send_checkpoint("S2")
    c1 = request(replica, "C1", 1)
    clock.advance(3.1)
    assert c1.sent == [Reply("C1", "S1", 1, 1)]
    assert "S2" not in replica.synced


def test_the_passive_primary_checkpoints_every_period_with_a_growing_count() -> None:
    replica, clock, console, lfd, links = make(peers=("S2", "S3"))
    request(replica, "C1", 1)
    clock.advance(2.0)
    assert "[2] [1] S1 sending checkpoint to S2" in console.texts()  # 1 was the promotion's
    assert links["S3"].sent[-1] == Checkpoint("S1", "S3", 2, 1, (("C1", 1, 1),))
    clock.advance(2.0)
    assert "[3] [1] S1 sending checkpoint to S3" in console.texts()


def test_a_passive_backup_logs_entries_and_replays_them_when_promoted() -> None:
    replica, clock, console, lfd, links = make("S2", role="backup", ready=False)
    primary = FakeConn("S1")
    replica.received(primary, Hello("S1", "S2"))
    replica.received(primary, Checkpoint("S1", "S2", 4, 10, (("C1", 9, 10),), recovery=True))
    assert replica.ready and "Server is ready" in console.texts()
    assert lfd.sent == [Ready("S2")]
    assert "[4] [10] S2 receives checkpoint from S1" in console.texts()
    replica.received(primary, LogEntry("S1", "S2", "C2", 3, 11))
    replica.received(primary, LogEntry("S1", "S2", "C1", 10, 12))
    assert primary.sent == [Ack("S2", "S1", 11), Ack("S2", "S1", 12)]
    assert replica.my_state == 10  # passive: only checkpoints change a backup's state
    replica.received(primary, Checkpoint("S1", "S2", 5, 11, (("C1", 9, 10), ("C2", 3, 11))))
    assert [e.value for e in replica.backlog] == [12]
    replica.received(lfd, Role("S2", "passive", "primary", True))
    assert replica.my_state == 12
    assert "my_state_S2 = 12 after processing <C1, S2, 10, request>" in console.texts()
    c1 = request(replica, "C1", 10)  # the client retries what the old primary answered
    assert c1.sent == [Reply("C1", "S2", 10, 12)] and replica.my_state == 12
    c1 = request(replica, "C1", 11, c1)
    assert c1.sent[-1] == Reply("C1", "S2", 11, 13)


def test_a_recovering_replica_buffers_then_applies_only_what_follows_the_checkpoint() -> None:
    replica, clock, console, lfd, links = make("S3", mode="active", role="backup", ready=False)
    c1 = request(replica, "C1", 4)
    c2 = request(replica, "C2", 8)
    assert c1.sent == [] and c2.sent == [] and not replica.ready
    primary = FakeConn("S1")
    replica.received(primary, Hello("S1", "S3"))
    replica.received(primary, Checkpoint("S1", "S3", 2, 20, (("C1", 4, 19), ("C2", 7, 18)), True))
    assert c1.sent == [Reply("C1", "S3", 4, 19)]  # already in the checkpoint
    assert c2.sent == []  # after it: waits for the primary's order
    replica.received(primary, LogEntry("S1", "S3", "C2", 8, 21))
    assert c2.sent == [Reply("C2", "S3", 8, 21)]
    assert "my_state_S3 = 21 after processing <C2, S3, 8, request>" in console.texts()


def test_only_the_recovery_checkpoint_makes_a_replica_ready_even_before_its_role() -> None:
    replica, clock, console, lfd, links = make("S2", role="", ready=False)
    primary = FakeConn("S1")
    replica.received(primary, Hello("S1", "S2"))
    replica.received(primary, Checkpoint("S1", "S2", 1, 4, ()))  # a periodic one
    replica.received(lfd, Role("S2", "passive", "backup", False))
    assert not replica.ready and replica.my_state == 4
    replica.received(primary, Checkpoint("S1", "S2", 2, 5, (), recovery=True))
    assert replica.ready and lfd.take()[-1] == Ready("S2")
    replica2, clock, console, lfd2, links = make("S3", role="", ready=False)
    replica2.received(primary, Hello("S1", "S3"))
    replica2.received(primary, Checkpoint("S1", "S3", 2, 5, (), recovery=True))
    assert not replica2.ready  # no role yet
    replica2.received(lfd2, Role("S3", "passive", "backup", False))  # arrives second
    assert replica2.ready and lfd2.take()[-1] == Ready("S3")


def test_an_active_backup_follows_the_primarys_order_whatever_the_arrival_order() -> None:
    replica, clock, console, lfd, links = make("S2", mode="active", role="backup", ready=False)
    primary = FakeConn("S1")
    replica.received(primary, Hello("S1", "S2"))
    replica.received(primary, Checkpoint("S1", "S2", 1, 0, (), True))
    replica.received(primary, LogEntry("S1", "S2", "C2", 1, 1))  # before C2's own request
    c1 = request(replica, "C1", 1)
    assert c1.sent == []
    c2 = request(replica, "C2", 1)
    assert c2.sent == [Reply("C2", "S2", 1, 1)]
    replica.received(primary, LogEntry("S1", "S2", "C1", 1, 2))
    assert c1.sent == [Reply("C1", "S2", 1, 2)]


def test_a_new_active_primary_adopts_the_most_advanced_backup_before_ordering() -> None:
    replica, clock, console, lfd, links = make("S2", mode="active", role="backup", ready=False,
                                               peers=("S3",))
    old = FakeConn("S1")
    replica.received(old, Hello("S1", "S2"))
    replica.received(old, Checkpoint("S1", "S2", 1, 5, (("C1", 5, 5),)))
    c2 = request(replica, "C2", 1)  # never ordered by the old primary
    replica.received(lfd, Role("S2", "active", "primary", True))
    assert links["S3"].take() == [SendCheckpoint("S3", "S2")]
    assert c2.sent == []
    s3 = FakeConn("S3")
    replica.received(s3, Hello("S3", "S2"))
    replica.received(s3, Checkpoint("S3", "S2", 2, 6, (("C1", 5, 5), ("C3", 1, 6))))
    assert replica.my_state == 7  # 6 from S3, then C2's request
    sent = links["S3"].take()
    assert sent[0] == Checkpoint("S2", "S3", 3, 6, (("C1", 5, 5), ("C3", 1, 6)))
    assert sent[1] == LogEntry("S2", "S3", "C2", 1, 7)


def test_strangers_and_misdirected_messages_change_nothing() -> None:
    replica, clock, console, lfd, links = make()
    before = (replica.my_state, dict(replica.clients), replica.role)
    c9 = request(replica, "C9", 1)
    stranger = FakeConn("x")
    replica.received(stranger, Checkpoint("S9", "S1", 9, 99, ()))
    replica.received(stranger, Role("S1", "passive", "backup", True))  # not from its LFD
    replica.received(stranger, Request("C1", "S2", 1, "x"))  # not for this replica
    replica.received(stranger, Heartbeat("LFD2", "S1", 1))
    assert c9.sent == [] and stranger.sent == []
    assert (replica.my_state, dict(replica.clients), replica.role) == before
    assert sum("refused" in line for line in console.texts()) == 5


def test_a_passive_backup_holds_a_request_that_beats_its_promotion() -> None:
    replica, clock, console, lfd, links = make("S2", role="backup", ready=False)
    primary = FakeConn("S1")
    replica.received(primary, Hello("S1", "S2"))
    replica.received(primary, Checkpoint("S1", "S2", 1, 3, (("C1", 2, 3),), recovery=True))
    c1 = request(replica, "C1", 3)  # the client heard of the failover first
    assert c1.sent == [] and replica.my_state == 3
    replica.received(lfd, Role("S2", "passive", "primary", True))
    assert c1.sent == [Reply("C1", "S2", 3, 4)]


def test_log_entries_only_from_the_primary_whose_checkpoint_was_adopted() -> None:
    replica, clock, console, lfd, links = make("S3", mode="active", role="backup", ready=False)
    old, new = FakeConn("S1"), FakeConn("S2")
    replica.received(old, Hello("S1", "S3"))
    replica.received(new, Hello("S2", "S3"))
    replica.received(old, LogEntry("S1", "S3", "C1", 1, 1))  # before any checkpoint
    assert old.sent == [] and replica.my_state == 0
    replica.received(old, Checkpoint("S1", "S3", 1, 0, (), True))
    replica.received(new, Checkpoint("S2", "S3", 2, 0, ()))  # S2 promoted: it checkpoints all
    replica.received(old, LogEntry("S1", "S3", "C1", 1, 1))  # the deposed primary
    assert old.sent == [] and replica.my_state == 0
    replica.received(new, LogEntry("S2", "S3", "C2", 1, 1))
    assert new.sent == [Ack("S3", "S2", 1)] and replica.my_state == 1


def test_epochs_fence_off_a_deposed_primary() -> None:
    replica, clock, console, lfd, links = make("S3", role="backup", ready=False)
    old, new = FakeConn("S1"), FakeConn("S2")
    replica.received(old, Hello("S1", "S3"))
    replica.received(new, Hello("S2", "S3"))
    replica.received(old, Checkpoint("S1", "S3", 3, 7, (), True, epoch=1))
    replica.received(new, Checkpoint("S2", "S3", 4, 8, (), False, epoch=2))  # S2 promoted
    replica.received(old, Checkpoint("S1", "S3", 4, 9, (), False, epoch=1))  # late, from S1
    assert replica.my_state == 8 and replica.leader == "S2"
    assert "S3: checkpoint from S1 of epoch 1, older than 2: ignored" in console.texts()
    primary, clock, console, lfd, links = make("S1", peers=("S2",))
    primary.received(lfd, Role("S1", "passive", "primary", True, epoch=1))
    c1 = request(primary, "C1", 1)  # held for S2's ack
    assert c1.sent == []
    s2 = FakeConn("S2")
    primary.received(s2, Hello("S2", "S1"))
    primary.received(s2, Checkpoint("S2", "S1", 5, 0, (), False, epoch=2))
    assert primary.role == "backup" and "S1: S2 is primary since epoch 2: stepping down" in console.texts()
    primary.peer_down("S2")
    assert c1.sent == []  # never answered: S2 never held it
