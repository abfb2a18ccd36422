"""A local fault detector: heartbeats its replica, reports it to the GFD, relaunches it.

Every ``heartbeat_freq`` seconds the LFD sends ``<LFD1, S1, n, heartbeat>`` to its replica
(when its link to it is up); each answer is a sign of life for herd's ``FailureDetector``,
whose deadline is ``2 * heartbeat_freq``. The first answer adds the replica to the
membership (``<LFD1, S1, add, membership>`` to the GFD), a missed deadline deletes it. The
LFD answers the GFD's heartbeats, passes the RM's orders (role, send_checkpoint) on to its
replica, the replica's ``<S1, ready>`` up to the GFD, and relaunches its replica on
``<S1, launch>``.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from herd.core.failure import FailureDetector
from herd.replication.cluster import GFD, Cluster
from herd.replication.connection import Component, Conn
from herd.replication.console import Console
from herd.protocols.replication import (
    Heartbeat, Hello, Launch, Membership, Message, Ready, Role, SendCheckpoint, text,
)


class LocalDetector(Component):
    """One LFD's decisions."""

    def __init__(self, name: str, cluster: Cluster, clock: IReactorTime, console: Console,
                 heartbeat_freq: float, launch: Optional[Callable[[], None]] = None,
                 running: Callable[[], bool] = lambda: False) -> None:
        self.name = name
        self.replica = cluster.lfds[name]
        self.cluster = cluster
        self.clock = clock
        self.console = console
        self.heartbeat_freq = heartbeat_freq
        self._launch = launch
        self.running = running  # whether a replica process runs now
        self.count = 0
        self.member = False
        self.replica_conn: Optional[Conn] = None
        self.gfd_conn: Optional[Conn] = None
        self.detector: FailureDetector[str] = FailureDetector(
            clock, 2 * heartbeat_freq, self._died, interval=heartbeat_freq / 10)
        self._beat = LoopingCall(self.heartbeat)
        self._beat.clock = clock

    def start(self) -> None:
        self.console.say(f"{self.name}: watching replica {self.replica} every "
                         f"{self.heartbeat_freq:g} s")
        self.detector.start()
        self._beat.start(self.heartbeat_freq, now=False)
        if self._launch is not None:
            self.console.say(f"{self.name}: launching replica {self.replica}")
            self._launch()

    def stop(self) -> None:
        self.detector.stop()
        if self._beat.running:
            self._beat.stop()

    # -- links --------------------------------------------------------------------------

    def replica_up(self, conn: Conn) -> None:
        conn.identified(self.replica)
        self.replica_conn = conn
        conn.send(Hello(self.name, self.replica))
        self.heartbeat()

    def replica_down(self) -> None:
        self.replica_conn = None

    def gfd_up(self, conn: Conn) -> None:
        conn.identified(GFD)
        self.gfd_conn = conn
        conn.send(Hello(self.name, GFD))
        if self.member:
            conn.send(Membership(self.name, self.replica, "add"))

    def gfd_down(self) -> None:
        self.gfd_conn = None

    # -- heartbeats and membership ------------------------------------------------------

    def heartbeat(self) -> None:
        """Send the next heartbeat to the replica, if the link to it is up."""
        if self.replica_conn is None:
            return
        self.count += 1
        self.console.say(f"[{self.count}] {self.name} sending heartbeat to {self.replica}")
        self.replica_conn.send(Heartbeat(self.name, self.replica, self.count))

    def _died(self, replica: str) -> None:
        self.console.say(f"{replica} has died")
        self.detector.forget(replica)
        if self.member:
            self.member = False
            self.console.say(f"{self.name}: delete replica {replica}")
            self._to_gfd(Membership(self.name, replica, "delete"))

    def _to_gfd(self, m: Message) -> None:
        if self.gfd_conn is not None:
            self.gfd_conn.send(m)

    # -- messages -----------------------------------------------------------------------

    def received(self, conn: Conn, m: Message) -> None:
        if conn is self.replica_conn:
            if isinstance(m, Heartbeat) and m.sender == self.replica and m.receiver == self.name:
                self.console.say(f"[{m.count}] {self.name} receives heartbeat from {self.replica}")
                self.detector.heard(self.replica)
                if not self.member:
                    self.member = True
                    self.console.say(f"{self.name}: add replica {self.replica}")
                    self._to_gfd(Membership(self.name, self.replica, "add"))
            elif isinstance(m, Ready) and m.server == self.replica:
                self.console.say(f"Received {text(m)}")
                self._to_gfd(m)
            else:
                self.refused(conn, f"unexpected {text(m)}")
        elif conn is self.gfd_conn:
            if isinstance(m, Heartbeat) and m.sender == GFD and m.receiver == self.name:
                self.console.say(f"[{m.count}] {self.name} receives heartbeat from {GFD}")
                self.console.say(f"[{m.count}] {self.name} sending heartbeat to {GFD}")
                conn.send(Heartbeat(self.name, GFD, m.count))
            elif isinstance(m, Launch) and m.server == self.replica:
                self.console.say(f"Received {text(m)}")
                self.relaunch()
            elif (isinstance(m, Role) and m.server == self.replica) or (
                    isinstance(m, SendCheckpoint) and m.source == self.replica):
                self.console.say(f"Received {text(m)}")
                if self.replica_conn is not None:
                    self.replica_conn.send(m)
                else:
                    self.console.say(f"{self.name}: {self.replica} is not connected: "
                                     f"{text(m)} dropped")
            else:
                self.refused(conn, f"unexpected {text(m)}")
        else:
            self.refused(conn, f"{text(m)} on an unknown connection")

    def relaunch(self) -> None:
        """The RM asked for a new replica process."""
        if self._launch is None:
            self.console.say(f"{self.name}: not launching replicas (--no-launch): "
                             f"{self.replica} not relaunched")
            return
        self.console.say(f"{self.name}: relaunching replica {self.replica}")
        self._launch()

    def exited(self, why: str, expected: bool = False) -> None:
        """The replica process ended (``expected``: the LFD stopped it).

        One that never answered a heartbeat (it could not start: a busy port, a bad
        option) is not a member, so the RM will never ask for it: the LFD launches it again
        itself, after ``heartbeat_freq * 5`` seconds. A member's death is the RM's to handle.
        """
        self.console.say(f"{self.name}: replica {self.replica} process ended: {why}")
        if not expected and not self.member and self._launch is not None:
            delay = self.heartbeat_freq * 5
            self.console.say(f"{self.name}: {self.replica} never answered: relaunching it "
                             f"in {delay:g} s")
            self.clock.callLater(delay, self._retry)

    def _retry(self) -> None:
        if not self.member and self._launch is not None and not self.running():
            self.relaunch()
