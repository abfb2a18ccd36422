"""The replication manager: who is a member, who is ready, who is primary, who recovers.

The RM learns membership from the GFD (``<GFD, S1, add, membership>``) and readiness from
the replicas themselves (``<S1, ready>``, through their LFD and the GFD). It decides:

- the first replica to join while no ready replica lives is ready at once and primary
  (``<S1, passive, primary, ready>``); it starts from its own state;
- every other one is a backup that must recover first (``<S2, passive, backup, recover>``)
  from a checkpoint of the primary (``<S1, S2, send_checkpoint>``);
- when the primary leaves, the first ready backup (in name order) is promoted
  (``<S2, passive, primary, ready>``), recoveries in progress are restarted from it, and
  the clients are told;
- every replica that leaves is relaunched (``<S1, launch>``, through the GFD to its LFD).

Clients ask with ``<C1, client>`` and get ``<C1, passive, S2, ready>`` (the primary) or
``<C1, active, S1;S2;S3, ready>`` (the members); the answer is sent again whenever it
changes, on the same connection.
"""

from __future__ import annotations

from typing import Optional

from herd.replication.cluster import GFD, RM, Cluster
from herd.replication.connection import Component, Conn
from herd.replication.console import Console
from herd.replication.membership import Membership as Members
from herd.protocols.replication import (
    Assignment, ClientHello, Hello, Launch, Membership, Message, Ready, Role, SendCheckpoint,
    text,
)


class Manager(Component):
    """The RM's decisions."""

    name = RM

    def __init__(self, cluster: Cluster, console: Console, mode: str) -> None:
        self.cluster = cluster
        self.console = console
        self.mode = mode
        self.members = Members(RM, console)
        self.ready: set[str] = set()
        self.primary: Optional[str] = None
        self.epoch = 0  # promotions so far: a primary's epoch fences off the deposed ones
        self.recovering: dict[str, str] = {}  # replica -> the replica it recovers from
        self.gfd_conn: Optional[Conn] = None
        self.clients: dict[str, Conn] = {}
        self._told: dict[str, Assignment] = {}

    # -- connections --------------------------------------------------------------------

    def disconnected(self, conn: Conn) -> None:
        if conn is self.gfd_conn:
            self.gfd_conn = None
            self.console.say(f"{RM}: lost the {GFD}")
        for client, c in list(self.clients.items()):
            if c is conn:
                del self.clients[client]
                self._told.pop(client, None)

    def received(self, conn: Conn, m: Message) -> None:
        if conn.peer is None:
            if isinstance(m, Hello) and m.sender == GFD and m.receiver == RM:
                conn.identified(GFD)
                if self.gfd_conn is not None and self.gfd_conn is not conn:
                    self.gfd_conn.close()
                self.gfd_conn = conn
                self.console.say(f"{RM}: {GFD} connected")
                return
            if not (isinstance(m, ClientHello) and m.client in self.cluster.clients):
                self.refused(conn, f"{text(m)} before a hello from the GFD or a client")
                return
            conn.identified(m.client)
        if conn.peer in self.cluster.clients:
            if isinstance(m, ClientHello) and m.client == conn.peer:
                self.console.say(f"Received {text(m)}")
                self.clients[m.client] = conn
                self._told.pop(m.client, None)
                self._tell(m.client)
            else:
                self.refused(conn, f"{text(m)} is not for {RM} from {conn.peer}")
            return
        if isinstance(m, Membership) and m.sender == GFD and m.server in self.cluster.replicas:
            self.console.say(f"Received {text(m)}")
            if m.action == "add":
                self.add(m.server)
            else:
                self.delete(m.server)
        elif isinstance(m, Ready) and m.server in self.cluster.replicas:
            self.console.say(f"Received {text(m)}")
            self.became_ready(m.server)
        else:
            self.refused(conn, f"{text(m)} is not for {RM} from {conn.peer}")

    # -- decisions ----------------------------------------------------------------------

    def _send(self, m: Message) -> None:
        self.console.say(f"Sending {text(m)}")
        if self.gfd_conn is not None:
            self.gfd_conn.send(m)

    def add(self, replica: str) -> None:
        if not self.members.add(replica):
            return
        if self.primary is None:
            self._make_primary(replica, fresh=True)
        else:
            self._recover(replica)
        self._tell_all()

    def _make_primary(self, replica: str, fresh: bool) -> None:
        self.primary = replica
        self.epoch += 1
        if fresh:
            self.console.say(f"{RM}: {replica} is the primary, ready with its own state")
        else:
            self.console.say(f"{RM}: {replica} is the new primary")
        self.ready.add(replica)
        self.recovering.pop(replica, None)
        self._send(Role(replica, self.mode, "primary", True, self.epoch))

    def _recover(self, replica: str) -> None:
        assert self.primary is not None
        self.recovering[replica] = self.primary
        self.ready.discard(replica)
        self._send(Role(replica, self.mode, "backup", False))
        self._send(SendCheckpoint(self.primary, replica))

    def delete(self, replica: str) -> None:
        if not self.members.delete(replica):
            return
        self.ready.discard(replica)
        self.recovering.pop(replica, None)
        if replica == self.primary:
            self.primary = None
            candidates = sorted(r for r in self.members.members if r in self.ready)
            if candidates:
                self._make_primary(candidates[0], fresh=False)
            elif self.members.members:
                chosen = sorted(self.members.members)[0]
                self.console.say(f"{RM}: no ready replica is left: the state is lost, "
                                 f"{chosen} starts from its own")
                self._make_primary(chosen, fresh=True)
            if self.primary is not None:
                for other in sorted(self.recovering):
                    self._recover(other)
        self._send(Launch(replica))
        self._tell_all()

    def became_ready(self, replica: str) -> None:
        if replica in self.members:
            self.ready.add(replica)
            self.recovering.pop(replica, None)

    # -- clients ------------------------------------------------------------------------

    def assignment(self, client: str) -> Assignment:
        if self.mode == "passive":
            servers = (self.primary,) if self.primary else ()
        else:
            servers = tuple(self.members.members)
        return Assignment(client, self.mode, servers)

    def _tell(self, client: str) -> None:
        answer = self.assignment(client)
        if self._told.get(client) == answer:
            return
        self._told[client] = answer
        self.console.say(f"Sending {text(answer)}")
        self.clients[client].send(answer)

    def _tell_all(self) -> None:
        for client in sorted(self.clients):
            self._tell(client)
