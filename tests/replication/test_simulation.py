"""The whole protocol in memory: replicas, the real RM and clients, random interleavings.

Every connection is a FIFO channel; a seeded scheduler delivers the head of a random
channel or lets time pass (one ``Clock`` for everyone). Replicas crash at random moments
(messages they already sent are still delivered, as on loopback after a SIGKILL), or are
falsely suspected (the RM deposes a replica that still runs, until its LFD kills it on the
RM's ``launch``); the RM relaunches them fresh, and they recover. At the end every
client request must have been answered exactly once (values 1..N, linearizable) and the
live replicas must agree. The LFDs and the GFD are left out: the RM's messages go straight
to the replicas.
"""

from __future__ import annotations

import io
import json
import random
from typing import Optional

from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet.task import Clock

from herd.replication.client.core import ClientCore
from herd.replication.console import MemoryConsole
from herd.replication.linearizability import Operation, check
from herd.replication.replica.server import Replica
from herd.replication.rm.manager import Manager
from herd.protocols.replication import Hello, Launch, Membership, Ready, Role, SendCheckpoint

from tests.replication.fakes import cluster

REPLICAS = ("S1", "S2", "S3")
CLIENTS = ("C1", "C2", "C3")


class End:
    """One end of an in-memory connection."""

    def __init__(self, net: "Net", handler: object, owner: str) -> None:
        self.net, self.handler, self.owner = net, handler, owner
        self.peer: Optional[str] = None
        self.other: Optional["End"] = None
        self.open = True

    def identified(self, name: str) -> None:
        self.peer = name

    def send(self, message: object) -> None:
        if self.open and self.other is not None:
            self.net.queue(self.other, message)

    def close(self) -> None:
        self.open = False

    def describe(self) -> str:
        return self.peer or "?"


class Net:
    """FIFO channels delivered in random order, each message within ``MAX_DELAY`` seconds.

    The bound is what loopback TCP gives and what the heartbeat deadlines assume: what a
    replica sent before it crashed arrives long before anyone declares it dead.
    """

    MAX_DELAY = 0.04

    def __init__(self, rng: random.Random, clock: Clock) -> None:
        self.rng = rng
        self.clock = clock
        self.channels: dict[End, list[tuple[float, object]]] = {}

    def pair(self, a_handler: object, a_owner: str, b_handler: object, b_owner: str) -> tuple[End, End]:
        a, b = End(self, a_handler, a_owner), End(self, b_handler, b_owner)
        a.other, b.other = b, a
        return a, b

    def queue(self, to: End, message: object) -> None:
        self.channels.setdefault(to, []).append((self.clock.seconds(), message))

    def deliver_one(self) -> bool:
        ready = [end for end, queue in self.channels.items() if queue]
        if not ready:
            return False
        late = self.clock.seconds() - self.MAX_DELAY
        overdue = [end for end in ready if self.channels[end][0][0] <= late]
        end = self.rng.choice(overdue or ready)
        _, message = self.channels[end].pop(0)
        if end.open:
            end.handler.received(end, message)  # type: ignore[attr-defined]
        return True

    def drop_to(self, owner: str) -> None:
        for end in self.channels:
            if end.owner == owner:
                end.open = False


class Sim:
    def __init__(self, seed: int, mode: str, requests: int) -> None:
        self.rng = random.Random(seed)
        self.mode = mode
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.net = Net(self.rng, self.clock)
        self.cluster = cluster()
        self.rm = Manager(self.cluster, MemoryConsole(self.clock), mode)
        self.rm_gfd, self.gfd_rm = self.net.pair(self.rm, "RM", self, "GFD")
        self.rm.received(self.rm_gfd, Hello("GFD", "RM"))
        self.replicas: dict[str, Replica] = {}
        self.lfd_ends: dict[str, End] = {}
        self.links: dict[tuple[str, str], End] = {}
        self.histories = {c: io.StringIO() for c in CLIENTS}
        self.clients: dict[str, ClientCore] = {}
        self.client_ends: dict[tuple[str, str], End] = {}
        for name in REPLICAS:
            self.launch(name)
        for client in CLIENTS:
            core = ClientCore(client, self.clock, MemoryConsole(self.clock), requests=requests,
                              interval=0.01, timeout=0.5, give_up=1e9, history=self.histories[client])
            self.clients[client] = core
            to_rm, at_rm = self.net.pair(core, client, self.rm, "RM")
            core.rm_up(to_rm)
            for name in self.replicas:
                self.connect_client(client, name)
            core.start()

    # the GFD's side: messages from the RM
    def received(self, end: End, message: object) -> None:
        if isinstance(message, Role):
            target = message.server
        elif isinstance(message, SendCheckpoint):
            target = message.source
        elif isinstance(message, Launch):
            if message.server in self.replicas:  # a false suspicion: the LFD kills it first
                self.clock.callLater(0.05, self.crash, message.server, False)
            self.clock.callLater(0.2, self.launch, message.server)
            return
        else:
            return
        if target in self.replicas:
            self.net.queue(self.lfd_ends[target], message)

    def launch(self, name: str) -> None:
        if name in self.replicas:
            return
        replica = Replica(name, self.cluster, self.clock, MemoryConsole(self.clock),
                          checkpoint_freq=0.3, ack_timeout=5.0)
        self.replicas[name] = replica
        lfd_side, replica_side = self.net.pair(self, "LFD", replica, name)
        self.lfd_ends[name] = replica_side
        replica.received(replica_side, Hello("LFD" + name[1:], name))
        lfd_side.handler = _Up(self, name)
        for other in self.replicas:
            if other != name:
                self.link(name, other)
                self.link(other, name)
        for client in self.clients:
            self.connect_client(client, name)
        self.rm.received(self.rm_gfd, Membership("GFD", name, "add"))

    def link(self, a: str, b: str) -> None:
        out, inc = self.net.pair(self.replicas[a], a, self.replicas[b], b)
        self.links[(a, b)] = out
        self.replicas[a].peer_up(b, out)

    def connect_client(self, client: str, name: str) -> None:
        out, inc = self.net.pair(self.clients[client], client, self.replicas[name], name)
        self.client_ends[(client, name)] = out
        self.clients[client].server_up(name, out)

    def crash(self, name: str, tell_rm: bool = True) -> None:
        if name not in self.replicas:
            return
        replica = self.replicas.pop(name)
        replica.stop()
        self.net.drop_to(name)
        self.lfd_ends.pop(name).open = False
        for (a, b), end in list(self.links.items()):
            if name in (a, b):
                end.open = False
                del self.links[(a, b)]
                if a != name:
                    self.replicas[a].peer_down(b)
        for (client, server), end in list(self.client_ends.items()):
            if server == name:
                end.open = False
                self.clients[client].server_down(name)
        if tell_rm:  # the GFD tells the RM a little later (the heartbeat deadline)
            self.clock.callLater(0.1, self.rm.received, self.rm_gfd,
                                 Membership("GFD", name, "delete"))

    def suspect(self, name: str) -> None:
        """The RM is told ``name`` died while it still runs (a missed deadline)."""
        self.rm.received(self.rm_gfd, Membership("GFD", name, "delete"))

    def run(self, crashes: int, steps: int = 200_000) -> None:
        crash_at = sorted(self.rng.sample(range(30, 1200), crashes))
        for step in range(steps):
            if crash_at and step == crash_at[0]:
                crash_at.pop(0)
                ready = [r for r in self.replicas if r in self.rm.ready]
                # any replica, as long as a ready one survives (one fault at a time)
                candidates = [r for r in self.replicas if set(ready) - {r}]
                if candidates:
                    victim = self.rng.choice(sorted(candidates))
                    if self.rng.random() < 0.3:
                        self.suspect(victim)
                    else:
                        self.crash(victim)
            if self.rng.random() < 0.15 or not self.net.deliver_one():
                self.advance(self.rng.choice((0.001, 0.01, 0.03)))
            if all(c.done for c in self.clients.values()) and not crash_at:
                break
        for _ in range(100):  # let the last checkpoints and acks land
            while self.net.deliver_one():
                pass
            self.advance(0.03)

    def advance(self, seconds: float) -> None:
        """Let time pass, but not past a message's delivery deadline."""
        late = self.clock.seconds() + seconds - Net.MAX_DELAY
        while any(queue and queue[0][0] <= late for queue in self.net.channels.values()):
            self.net.deliver_one()
        self.clock.advance(seconds)


class _Up:
    """The LFD side of a replica's connection: passes ready up to the RM."""

    def __init__(self, sim: Sim, name: str) -> None:
        self.sim, self.name = sim, name

    def received(self, end: End, message: object) -> None:
        if isinstance(message, Ready):
            self.sim.rm.received(self.sim.rm_gfd, message)


SCHEDULES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = st.integers(min_value=0, max_value=2**32)
CRASHES = st.integers(min_value=0, max_value=6)


@SCHEDULES
@given(seed=SEEDS, crashes=CRASHES)
def test_passive_random_crashes_never_lose_nor_repeat_a_request(seed: int, crashes: int) -> None:
    simulate("passive", seed, crashes)


@SCHEDULES
@given(seed=SEEDS, crashes=CRASHES)
def test_active_random_crashes_never_lose_nor_repeat_a_request(seed: int, crashes: int) -> None:
    simulate("active", seed, crashes)


def simulate(mode: str, seed: int, crashes: int) -> None:
    requests = 25
    sim = Sim(seed, mode, requests)
    sim.run(crashes)
    assert all(c.done for c in sim.clients.values()), [c.answered for c in sim.clients.values()]
    ops = []
    for client, history in sim.histories.items():
        lines = [json.loads(line) for line in history.getvalue().splitlines()]
        assert [op["request"] for op in lines] == list(range(1, requests + 1))
        ops += [Operation(client, op["request"], op["invoke"], op["complete"], op["outcome"],
                          op["value"]) for op in lines]
    assert check(ops) == []
    assert sorted(op.value for op in ops) == list(range(1, 3 * requests + 1))
    ready = [r for name, r in sim.replicas.items() if r.ready]
    assert ready and {r.my_state for r in ready} == {3 * requests}
