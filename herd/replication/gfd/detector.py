"""The global fault detector: heartbeats the LFDs, keeps the membership, tells the RM.

LFDs connect to the GFD and say ``<LFD1, GFD, hello>``. Every ``heartbeat_freq`` seconds
the GFD sends each of them ``<GFD, LFD1, n, heartbeat>``; an LFD silent past herd's
``FailureDetector`` deadline (``2 * heartbeat_freq``) has died, and so, for the GFD, has
its replica. Membership changes from the LFDs update ``membership[]`` (printed on each
change) and go on to the RM as ``<GFD, S1, add, membership>``; the RM's orders (role,
send_checkpoint, launch) go on to the LFD of the replica they name.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from herd.core.failure import FailureDetector
from herd.replication.cluster import GFD, RM, Cluster
from herd.replication.connection import Component, Conn
from herd.replication.console import Console
from herd.replication.membership import Membership as Members
from herd.protocols.replication import (
    Heartbeat, Hello, Launch, Membership, Message, Ready, Role, SendCheckpoint, text,
)


class GlobalDetector(Component):
    """The GFD's decisions."""

    name = GFD

    def __init__(self, cluster: Cluster, clock: IReactorTime, console: Console,
                 heartbeat_freq: float) -> None:
        self.cluster = cluster
        self.console = console
        self.heartbeat_freq = heartbeat_freq
        self.members = Members(GFD, console)
        self.lfds: dict[str, Conn] = {}
        self.counts: dict[str, int] = {}
        self.rm_conn: Optional[Conn] = None
        self.detector: FailureDetector[str] = FailureDetector(
            clock, 2 * heartbeat_freq, self._died, interval=heartbeat_freq / 10)
        self._beat = LoopingCall(self.heartbeat)
        self._beat.clock = clock

    def start(self) -> None:
        self.detector.start()
        self._beat.start(self.heartbeat_freq, now=False)

    def stop(self) -> None:
        self.detector.stop()
        if self._beat.running:
            self._beat.stop()

    def heartbeat(self) -> None:
        for lfd, conn in sorted(self.lfds.items()):
            self.counts[lfd] = self.counts.get(lfd, 0) + 1
            self.console.say(f"[{self.counts[lfd]}] {GFD} sending heartbeat to {lfd}")
            conn.send(Heartbeat(GFD, lfd, self.counts[lfd]))

    def _died(self, lfd: str) -> None:
        self.console.say(f"{lfd} has died")
        self.detector.forget(lfd)
        conn = self.lfds.pop(lfd, None)
        if conn is not None:
            conn.close()
        self._change(self.cluster.lfds[lfd], "delete")

    def _change(self, replica: str, action: str) -> None:
        changed = self.members.add(replica) if action == "add" else self.members.delete(replica)
        if changed:
            self._to_rm(Membership(GFD, replica, action))

    def _to_rm(self, m: Message) -> None:
        if self.rm_conn is not None:
            self.rm_conn.send(m)

    def rm_up(self, conn: Conn) -> None:
        conn.identified(RM)
        self.rm_conn = conn
        conn.send(Hello(GFD, RM))
        for replica in self.members.members:
            conn.send(Membership(GFD, replica, "add"))

    def rm_down(self) -> None:
        self.rm_conn = None

    def disconnected(self, conn: Conn) -> None:
        if conn.peer is not None and self.lfds.get(conn.peer) is conn:
            del self.lfds[conn.peer]

    def received(self, conn: Conn, m: Message) -> None:
        if conn is self.rm_conn:
            self._from_rm(conn, m)
            return
        if conn.peer is None:
            if isinstance(m, Hello) and m.sender in self.cluster.lfds and m.receiver == GFD:
                conn.identified(m.sender)
                old = self.lfds.get(m.sender)
                if old is not None and old is not conn:
                    old.close()
                self.lfds[m.sender] = conn
                self.detector.heard(m.sender)
                self.console.say(f"{GFD}: {m.sender} connected")
            else:
                self.refused(conn, f"{text(m)} before a hello from an LFD of the cluster")
            return
        lfd = conn.peer
        replica = self.cluster.lfds[lfd]
        if isinstance(m, Heartbeat) and m.sender == lfd and m.receiver == GFD:
            self.console.say(f"[{m.count}] {GFD} receives heartbeat from {lfd}")
            self.detector.heard(lfd)
        elif isinstance(m, Membership) and m.sender == lfd and m.server == replica:
            self.console.say(f"Received {text(m)}")
            self._change(replica, m.action)
        elif isinstance(m, Ready) and m.server == replica:
            self.console.say(f"Received {text(m)}")
            self._to_rm(m)
        else:
            self.refused(conn, f"{text(m)} is not for {GFD} from {lfd}")

    def _from_rm(self, conn: Conn, m: Message) -> None:
        if isinstance(m, (Role, Launch)):
            replica = m.server
        elif isinstance(m, SendCheckpoint):
            replica = m.source
        else:
            self.refused(conn, f"unexpected {text(m)} from {RM}")
            return
        if replica not in self.cluster.replicas:
            self.refused(conn, f"{text(m)} names no replica of the cluster")
            return
        self.console.say(f"Received {text(m)}")
        lfd = self.cluster.lfd_of[replica]
        target = self.lfds.get(lfd)
        if target is None:
            self.console.say(f"{GFD}: {lfd} is not connected: {text(m)} dropped")
            return
        target.send(m)
