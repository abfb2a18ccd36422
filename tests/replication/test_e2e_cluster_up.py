"""``bin/cluster-up`` and ``bin/replica-client`` as a user runs them: the logs layout, the
clients' exit codes, and every process gone after SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from herd.testing.processes import ProcessGroup, free_port, wait_for
from tests.checkout import BIN
from herd.replication.cluster import write_cluster

STAMPED = re.compile(r"\[\d\d:\d\d:\d\d\] \S.*\Z")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.e2e
def test_cluster_up_runs_a_cluster_that_clients_use_and_stops_it_whole(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.json"
    write_cluster(cluster, {name: free_port() for name in ("rm", "gfd", "S1", "S2", "S3")})
    logs = tmp_path / "logs"
    with ProcessGroup(tmp_path / "processes") as group:
        up = group.start("up", [str(BIN / "cluster-up"), "active", "--cluster", str(cluster),
                                "--logs", str(logs), "--heartbeat-freq", "0.2"])
        line = wait_for(lambda: "cluster up" in group.output("up") and group.output("up"), 60,
                        "cluster-up to report the cluster up")
        assert re.search(r"cluster up \(active\): primary S\d; backups S\d, S\d", line)
        result = subprocess.run([str(BIN / "replica-client"), "--name", "C1", "--cluster",
                                 str(cluster), "--requests", "5", "--interval", "0.1",
                                 "--logs", str(logs)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        printed = result.stdout.splitlines()
        replies = sum("Received <C1, S" in p for p in printed)
        duplicates = sum("Discarded duplicate reply" in p for p in printed)
        assert replies - duplicates == 5 and duplicates >= 1  # every replica answers
        assert (logs / "C1.log").read_text().splitlines() == printed
        names = ["RM", "GFD", "LFD1", "LFD2", "LFD3", "S1", "S2", "S3"]
        for name in names:
            for text in (logs / f"{name}.log").read_text().splitlines():
                assert STAMPED.match(text), (name, text)
            assert (logs / "twistd" / f"{name}.log").exists()
        pids = {name: int((logs / f"{name}.pid").read_text()) for name in names}
        assert all(_alive(pid) for pid in pids.values())
        old = pids["S2"]
        os.kill(old, signal.SIGKILL)  # relaunched by LFD2; its new pid in S2.pid
        wait_for(lambda: int((logs / "S2.pid").read_text()) != old, 30, "S2 to be relaunched")
        pids["S2"] = int((logs / "S2.pid").read_text())
        assert "LFD2: relaunching replica S2" in (logs / "LFD2.log").read_text()
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
        wait_for(lambda: not any(_alive(pid) for pid in pids.values()), 20,
                 "every process of the cluster to be gone")


@pytest.mark.e2e
def test_cluster_up_fails_fast_when_a_component_cannot_start(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.json"
    ports = {name: free_port() for name in ("rm", "gfd", "S1", "S2", "S3")}
    write_cluster(cluster, ports)
    with socket.socket() as busy:  # the RM's port is taken
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", ports["rm"]))
        busy.listen()
        result = subprocess.run([str(BIN / "cluster-up"), "passive", "--cluster", str(cluster),
                                 "--logs", str(tmp_path / "logs")],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "RM exited" in result.stderr and "Address already in use" in result.stderr
