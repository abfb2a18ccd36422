"""The seed's steps 1-8 with real processes, in both modes: SIGKILLed replicas, relaunch,
recovery, three clients running throughout; every request answered exactly once."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from herd.testing.processes import ProcessGroup, wait_for
from herd.replication.linearizability import check, read_history
from herd.testing.replication import REPLICAS, ReplicationCluster

CLIENTS = ("C1", "C2", "C3")
BAD_INPUT = [
    b"<garbage>\n",
    b"<C9, S1, 1, hello_world1, request>\n",  # a client not in the cluster file
    b"<S9, S1, 1, 99, -, checkpoint>\n",  # a replica not in the cluster file
    b"<GFD, S1, add, membership>\n",  # a membership change from a stranger
    b"<LFD9, GFD, hello>\n",
    b"<" + b"x" * 100_000,  # 100 KB without a '>'
]


def _bad_input(port: int) -> None:
    """Every kind of bad input on one port, each on its own connection, plus a half-open one."""
    for data in BAD_INPUT:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)  # half-open: we never read
                sock.settimeout(5)
                sock.recv(1024)
            except OSError:
                pass  # the peer dropped us, as it should


def _progress(cluster: ReplicationCluster, more: int = 3, timeout: float = 30.0) -> None:
    """Wait until every client has had ``more`` further replies."""
    start = {c: cluster.answered(c) for c in CLIENTS}
    wait_for(lambda: all(cluster.answered(c) >= start[c] + more for c in CLIENTS),
             timeout, f"{more} more replies for every client")


def _finish(cluster: ReplicationCluster, histories: list[Path]) -> int:
    for client in CLIENTS:
        assert cluster.stop_client(client) == 0, cluster.log(client)[-5:]
    total = 0
    for path in histories:
        ops = [json.loads(line) for line in path.read_text().splitlines()]
        assert [op["outcome"] for op in ops] == ["ok"] * len(ops)
        # in order, with no gap: request numbers 1..n
        assert [op["request"] for op in ops] == list(range(1, len(ops) + 1))
        total += len(ops)
    problems = check(read_history(histories))
    assert problems == []
    values = sorted(op.value for op in read_history(histories))
    assert values == list(range(1, total + 1))  # exactly once: every count given once
    wait_for(lambda: all(cluster.state(r) == total for r in REPLICAS), 20,
             f"every live replica to hold {total}")
    return total


@pytest.mark.e2e
def test_passive_failovers_and_recoveries(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "processes") as group:
        cluster = ReplicationCluster(group, tmp_path, "passive", heartbeat=0.2, checkpoint=0.5)
        cluster.start()
        first = cluster.primary()
        assert first is not None
        assert "[passive] [primary]" in cluster.log(first)
        histories = [cluster.start_client(c) for c in CLIENTS]
        _progress(cluster)
        cluster.kill(first)  # step 5: the primary dies, a backup takes over
        second = cluster.primary()
        assert second not in (None, first)
        assert "[passive] [primary]" in cluster.log(second)
        _progress(cluster)
        cluster.kill(first)  # step 7: the replica that recovered dies again
        _progress(cluster)
        cluster.kill(second)  # a second failover: the new primary dies
        third = cluster.primary()
        assert third not in (None, second)
        _progress(cluster)
        backup = next(r for r in REPLICAS if r != third)
        cluster.kill(backup)  # step 8: another backup dies
        _progress(cluster)
        total = _finish(cluster, histories)
        assert total > 0
        for client in CLIENTS:
            assert cluster.discarded(client) == 0  # passive: one reply per request
        for replica in REPLICAS:
            assert any("receives checkpoint" in line for line in cluster.log(replica))
        assert any(line.endswith("has died") for line in cluster.log("LFD1") + cluster.log("LFD2")
                   + cluster.log("LFD3"))


@pytest.mark.e2e
def test_active_faults_and_recoveries(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "processes") as group:
        cluster = ReplicationCluster(group, tmp_path, "active", heartbeat=0.2)
        cluster.start()
        first = cluster.primary()
        assert first is not None
        assert "[active] [primary]" in cluster.log(first)
        assert all("[active] [backup]" in cluster.log(r) for r in REPLICAS if r != first)
        rm_lines = len(cluster.log("RM"))
        for port in cluster.ports.values():
            _bad_input(port)
        for name in ("RM", "GFD", "LFD1", "LFD2", "LFD3"):
            assert group.processes[name].poll() is None, name
        for replica in REPLICAS:
            os.kill(cluster.pid(replica), 0)  # still alive
            assert cluster.state(replica) is None or cluster.state(replica) == 0
        wait_for(lambda: sum("refused" in line for line in cluster.log("RM")) >= 6, 10,
                 "the RM to refuse every bad input")
        changes = [line for line in cluster.log("RM")[rm_lines:]
                   if line.startswith(("Received <GFD", "RM: 0", "RM: 1", "RM: 2", "Sending"))]
        assert changes == []
        assert sum("refused" in line for line in cluster.log("GFD")) >= 6
        assert sum("refused" in line for line in cluster.log("S1")) >= 6
        histories = [cluster.start_client(c) for c in CLIENTS]
        _progress(cluster)
        backup = next(r for r in REPLICAS if r != first)
        cluster.kill(backup)  # step 5: one replica dies and comes back (step 6)
        _progress(cluster)
        cluster.kill(backup)  # step 7: the replica that recovered dies
        _progress(cluster)
        cluster.kill(first)  # step 8: the primary, the orderer, dies too
        assert cluster.primary() != first
        _progress(cluster)
        _finish(cluster, histories)
        assert all(cluster.discarded(c) > 0 for c in CLIENTS)  # every replica answers
