"""A replica: the counter, its clients' last requests, and what it does with each message.

This module decides; the connections (``herd.replication.connection``) only parse and call
``received``. The replica's state is ``my_state`` (a counter: each applied request adds one,
and the reply carries the counter after it) and, per client, the last request number
applied and its reply, so a retried request is answered again without being applied twice.

One replica at a time is the primary (the RM says which). It orders the requests: it applies
each one, sends ``<S1, S2, C1, 101, 8, log>`` to every backup it has synced (sent a
checkpoint to since their link came up), and answers the client only once each of them has
acknowledged. In active mode a backup applies the log entries in the primary's order and
answers the clients that sent it the request; in passive mode a backup only keeps the
entries since the last checkpoint, and replays them when it is promoted. Either way, an
answered request is held by every live replica, so a failover never loses nor repeats one.

See ``docs/replication-design.md`` for the whole protocol.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from herd.replication.cluster import Cluster
from herd.replication.connection import Component, Conn
from herd.replication.console import Console
from herd.replication.replica.acks import HeldReplies
from herd.protocols.replication import (
    Ack, Checkpoint, Heartbeat, Hello, LogEntry, Message, Reply, Request, Role, SendCheckpoint,
    Ready, text,
)


class Replica(Component):
    """One replica's state machine."""

    log = Logger()

    def __init__(self, name: str, cluster: Cluster, clock: IReactorTime, console: Console,
                 checkpoint_freq: float = 10.0, ack_timeout: float = 3.0,
                 sync_timeout: float = 1.0) -> None:
        self.name = name
        self.cluster = cluster
        self.clock = clock
        self.console = console
        self.checkpoint_freq = checkpoint_freq
        self.ack_timeout = ack_timeout
        self.sync_timeout = sync_timeout
        self.my_state = 0
        self.clients: dict[str, tuple[int, int]] = {}
        self.checkpoint_count = 0
        self.ready = False
        self.recovered = False  # a recovery checkpoint adopted (the RM's send_checkpoint)
        self.leader: Optional[str] = None  # whose checkpoint I adopted last: whose log I take
        self.epoch = 0  # the newest primary's epoch I know of
        self.mode: Optional[str] = None
        self.role: Optional[str] = None
        self.links: dict[str, Conn] = {}  # replica -> connection of my link to it (if up)
        self.synced: set[str] = set()
        self.to_checkpoint: set[str] = set()
        self.client_conns: dict[str, Conn] = {}
        self.lfd_conn: Optional[Conn] = None
        self.buffer: list[Request] = []
        self.pending: dict[str, Request] = {}  # a backup's requests not ordered yet
        self.backlog: list[LogEntry] = []  # passive backup: entries since the last checkpoint
        self.held = HeldReplies(clock, ack_timeout, self._reply, self._unsync)
        self.syncing: Optional[set[str]] = None
        self._sync_timer: Optional[IDelayedCall] = None
        self._checkpoints = LoopingCall(self.checkpoint_all)
        self._checkpoints.clock = clock

    # -- connections -------------------------------------------------------------------

    def disconnected(self, conn: Conn) -> None:
        if conn is self.lfd_conn:
            self.lfd_conn = None
        for client, c in list(self.client_conns.items()):
            if c is conn:
                del self.client_conns[client]

    def peer_up(self, name: str, conn: Conn) -> None:
        """My link to replica ``name`` is up."""
        self.links[name] = conn
        conn.identified(name)
        conn.send(Hello(self.name, name))
        if name in self.to_checkpoint:
            self.to_checkpoint.discard(name)
            self.send_checkpoint(name)

    def peer_down(self, name: str) -> None:
        """My link to replica ``name`` dropped: stop waiting for its acknowledgements."""
        self.links.pop(name, None)
        self.synced.discard(name)
        self.held.forget(name)
        if self.syncing is not None and name in self.syncing:
            self.syncing.discard(name)
            if not self.syncing:
                self._finish_sync()

    def received(self, conn: Conn, m: Message) -> None:
        """Check who sent ``m`` and act on it."""
        who = self._sender_ok(conn, m)
        if who is None:
            return
        if isinstance(m, Heartbeat):
            self._heartbeat(conn, m)
        elif isinstance(m, Request):
            self._request(conn, m)
        elif isinstance(m, Role):
            self._role(m)
        elif isinstance(m, SendCheckpoint):
            self.console.say(f"Received {text(m)}")
            if who in self.cluster.replicas and self.role != "primary":
                # A newly promoted active primary pulls our state: from now on we follow
                # it, not the old primary (whose last entries it may never see).
                self.leader = who
            self.send_checkpoint(m.target)
        elif isinstance(m, Checkpoint):
            self._checkpoint(m)
        elif isinstance(m, LogEntry):
            self._log_entry(conn, m)
        elif isinstance(m, Ack):
            self.held.acked(m.value, m.sender)
        elif isinstance(m, Hello):
            pass
        else:
            self.refused(conn, f"unexpected {text(m)}")

    def _sender_ok(self, conn: Conn, m: Message) -> Optional[str]:
        """The sender's name if it may send ``m`` to me on ``conn``; else refuse it."""
        c = self.cluster
        lfd = c.lfd_of[self.name]
        if isinstance(m, Request):
            ok, who = m.client in c.clients and m.server == self.name, m.client
        elif isinstance(m, Heartbeat):
            ok, who = m.sender == lfd and m.receiver == self.name, m.sender
        elif isinstance(m, Role):
            ok, who = m.server == self.name and conn.peer == lfd, lfd
        elif isinstance(m, SendCheckpoint):
            ok = m.source == self.name and m.target in c.replicas and m.target != self.name
            who = conn.peer or "?"
            ok = ok and who in (lfd, *c.replicas)
        elif isinstance(m, Hello) and (m.sender == lfd or m.sender in c.clients):
            ok, who = m.receiver == self.name, m.sender
        elif isinstance(m, (Checkpoint, LogEntry, Ack, Hello)):
            ok = m.sender in c.replicas and m.sender != self.name and m.receiver == self.name
            who = m.sender
        else:
            ok, who = False, "?"
        if ok and conn.peer is not None and conn.peer != who:
            ok = False
        if not ok:
            self.refused(conn, f"{text(m)} is not for {self.name} from {conn.describe()}")
            return None
        if conn.peer is None:
            conn.identified(who)
        if who in c.clients:
            self.client_conns[who] = conn
        if who == lfd:
            if self.lfd_conn is not conn and self.ready:
                conn.send(Ready(self.name))
            self.lfd_conn = conn
        return who

    # -- heartbeats and roles -----------------------------------------------------------

    def _heartbeat(self, conn: Conn, m: Heartbeat) -> None:
        self.console.say(f"[{m.count}] {self.name} receives heartbeat from {m.sender}")
        conn.send(Heartbeat(self.name, m.sender, m.count))

    def _role(self, m: Role) -> None:
        self.console.say(f"Received {text(m)}")
        was_primary = self.role == "primary"
        self.mode, self.role = m.mode, m.role
        self.epoch = max(self.epoch, m.epoch)
        self.console.say(f"[{m.mode}] [{m.role}]")
        if m.ready or self.recovered:  # the recovery checkpoint may come before the role
            if not self.ready:
                self._become_ready()
            elif self.lfd_conn is not None:
                self.lfd_conn.send(Ready(self.name))
        else:
            self.ready = False  # recover: ready only with the checkpoint the RM asked for
        if self.role == "primary" and not was_primary and self.ready:
            self._promote()
        elif self.role != "primary":
            self.synced.clear()
            self._stop_checkpoints()
        self._drain()

    def _become_ready(self) -> None:
        self.ready = True
        self.console.say("Server is ready")
        if self.lfd_conn is not None:
            self.lfd_conn.send(Ready(self.name))

    def _promote(self) -> None:
        if self.mode == "passive":
            for entry in self.backlog:
                if entry.num > self.clients.get(entry.client, (0, 0))[0]:
                    self._apply(entry.client, entry.num)
            self.backlog = []
            self.checkpoint_all()
            self._start_checkpoints()
            pending, self.pending = list(self.pending.values()), {}
            for request in pending:
                self._handle(request)
        else:
            self.syncing = set(self.links)
            for peer in sorted(self.syncing):
                self.links[peer].send(SendCheckpoint(peer, self.name))
            if not self.syncing:
                self._finish_sync()
            else:
                self._sync_timer = self.clock.callLater(self.sync_timeout, self._finish_sync)

    def _finish_sync(self) -> None:
        if self.syncing is None:
            return
        self.syncing = None
        if self._sync_timer is not None and self._sync_timer.active():
            self._sync_timer.cancel()
        self._sync_timer = None
        self.checkpoint_all()
        pending, self.pending = list(self.pending.values()), {}
        for request in pending:
            self._handle(request)
        self._drain()

    def _start_checkpoints(self) -> None:
        if not self._checkpoints.running:
            self._checkpoints.start(self.checkpoint_freq, now=False)

    def _stop_checkpoints(self) -> None:
        if self._checkpoints.running:
            self._checkpoints.stop()

    def stop(self) -> None:
        self._stop_checkpoints()
        self.held.stop()
        if self._sync_timer is not None and self._sync_timer.active():
            self._sync_timer.cancel()

    # -- checkpoints --------------------------------------------------------------------

    def _make_checkpoint(self, to: str, recovery: bool = False) -> Checkpoint:
        table = tuple(sorted((c, n, v) for c, (n, v) in self.clients.items()))
        return Checkpoint(self.name, to, self.checkpoint_count, self.my_state, table, recovery,
                          self.epoch)

    def checkpoint_all(self) -> None:
        """Send one checkpoint to every backup my links reach (the primary, periodically)."""
        backups = sorted(self.links)
        if not backups:
            return
        self.checkpoint_count += 1
        for backup in backups:
            self._send_checkpoint(backup)

    def send_checkpoint(self, target: str) -> None:
        """Send a checkpoint to ``target`` now, or as soon as my link to it is up."""
        if target not in self.links:
            self.to_checkpoint.add(target)
            return
        self.checkpoint_count += 1
        self._send_checkpoint(target, recovery=True)

    def _send_checkpoint(self, target: str, recovery: bool = False) -> None:
        self.console.say(f"[{self.checkpoint_count}] [{self.my_state}] "
                         f"{self.name} sending checkpoint to {target}")
        self.links[target].send(self._make_checkpoint(target, recovery))
        if self.role == "primary" and self.syncing is None:
            self.synced.add(target)

    def _checkpoint(self, m: Checkpoint) -> None:
        self.console.say(f"[{m.count}] [{m.state}] {self.name} receives checkpoint from {m.sender}")
        if m.epoch < self.epoch and self.syncing is None:
            self.console.say(f"{self.name}: checkpoint from {m.sender} of epoch {m.epoch}, "
                             f"older than {self.epoch}: ignored")
            return
        if self.role == "primary" and self.ready and m.epoch > self.epoch:
            self.console.say(f"{self.name}: {m.sender} is primary since epoch {m.epoch}: "
                             f"stepping down")
            self.role = "backup"
            self.synced.clear()
            self._stop_checkpoints()
            self.held.clear()  # never answered: the new primary never acknowledged them
        if self.role == "primary" and self.ready:
            if self.syncing is not None and m.sender in self.syncing:
                if m.state > self.my_state:
                    self._adopt(m)
                self.syncing.discard(m.sender)
                if not self.syncing:
                    self._finish_sync()
            return
        self._adopt(m)
        self.recovered = self.recovered or m.recovery
        if not self.ready and self.role is not None and self.recovered:
            self._become_ready()
            self._drain()

    def _adopt(self, m: Checkpoint) -> None:
        self.epoch = max(self.epoch, m.epoch)
        if m.sender != self.leader:
            self.backlog = []  # a deposed primary's entries: the new one's checkpoint rules
        self.leader = m.sender
        self.my_state = m.state
        self.clients = {c: (n, v) for c, n, v in m.clients}
        self.checkpoint_count = max(self.checkpoint_count, m.count)
        self.backlog = [e for e in self.backlog if e.value > m.state]
        for client, request in list(self.pending.items()):
            if request.num <= self.clients.get(client, (0, 0))[0]:
                del self.pending[client]
                if self.mode == "active":
                    self._handle(request)

    # -- requests -----------------------------------------------------------------------

    def _request(self, conn: Conn, m: Request) -> None:
        self.console.say(f"Received {m.brief()}")
        if not self.ready or self.syncing is not None or self.role is None:
            self.buffer.append(m)
            return
        self._handle(m)

    def _drain(self) -> None:
        if not self.ready or self.syncing is not None or self.role is None:
            return
        buffered, self.buffer = self.buffer, []
        for request in buffered:
            self._handle(request)

    def _handle(self, m: Request) -> None:
        if self.mode == "passive" and self.role != "primary":
            # A client told of a failover may reach the new primary before the RM does.
            self.console.say(f"{self.name} is a passive backup: {m.brief()} held "
                             f"in case it is promoted")
            self.pending[m.client] = m
            return
        last = self.clients.get(m.client)
        if last is not None and m.num <= last[0]:
            if m.num < last[0]:
                self.console.say(f"request_num {m.num} from {m.client} is older than "
                                 f"request_num {last[0]}: ignored")
                return
            if not self.held.holds(m.client, last[1]):  # else: answered once acknowledged
                self._reply(m.client, m.num, last[1])
            return
        if self.role == "primary":
            self._order(m)
        else:
            self.pending[m.client] = m

    def _apply(self, client: str, num: int) -> int:
        brief = f"<{client}, {self.name}, {num}, request>"
        self.console.say(f"my_state_{self.name} = {self.my_state} before processing {brief}")
        self.my_state += 1
        self.clients[client] = (num, self.my_state)
        self.console.say(f"my_state_{self.name} = {self.my_state} after processing {brief}")
        return self.my_state

    def _order(self, m: Request) -> None:
        value = self._apply(m.client, m.num)
        backups = set(self.synced)
        for backup in sorted(backups):
            self.links[backup].send(LogEntry(self.name, backup, m.client, m.num, value))
        self.held.hold(m.client, m.num, value, backups)

    def _unsync(self, backup: str, value: int) -> None:
        self.console.say(f"{backup} did not acknowledge log entry {value} within "
                         f"{self.ack_timeout:g} s: no longer synced")
        self.synced.discard(backup)

    def _log_entry(self, conn: Conn, m: LogEntry) -> None:
        if self.role == "primary" or m.sender != self.leader:
            # A deposed primary's entries: the primary we follow checkpointed us since.
            self.refused(conn, f"{text(m)}: {m.sender} is not the primary I follow")
            return
        if self.mode == "passive":
            self.backlog.append(m)
        else:
            last = self.clients.get(m.client)
            if last is None or m.num > last[0]:
                if m.value - 1 != self.my_state:
                    self.console.say(f"{self.name}: my_state {self.my_state} but log entry "
                                     f"{m.value} from {m.sender}: following the primary")
                    self.my_state = m.value - 1
                self._apply(m.client, m.num)
            request = self.pending.get(m.client)
            if request is not None and request.num <= m.num:
                del self.pending[m.client]
                self._handle(request)
        conn.send(Ack(self.name, m.sender, m.value))

    def _reply(self, client: str, num: int, value: int) -> None:
        conn = self.client_conns.get(client)
        if conn is None:
            self.console.say(f"no connection to {client}: reply to request_num {num} not sent")
            return
        self.console.say(f"Sending <{client}, {self.name}, {num}, reply>")
        conn.send(Reply(client, self.name, num, value))

