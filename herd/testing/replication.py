"""A replication cluster on free loopback ports, for end-to-end tests, benchmarks and the demo.

``ReplicationCluster`` writes its own cluster file (never the packaged ports), starts the
RM, the GFD and three LFDs (which launch the replicas) as ``twistd -n`` processes in a
``ProcessGroup``, and reads what they printed in ``logs/NAME.log`` to know what happened.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Optional

from herd.core.launcher import twistd_command
from herd.testing.processes import ProcessGroup, command, free_port, wait_for
from herd.replication.cluster import write_cluster
from herd.replication.status import primary, printed, ready

REPLICAS = ("S1", "S2", "S3")
_STATE = re.compile(r"my_state_S\d+ = (\d+) after processing|\[\d+\] \[(\d+)\] S\d+ (?:sending|receives) checkpoint")


lines = printed


class ReplicationCluster:
    """RM, GFD and LFD1-LFD3 (with S1-S3) as real processes."""

    def __init__(self, group: ProcessGroup, workdir: Path, mode: str, heartbeat: float = 0.2,
                 checkpoint: float = 0.5, replicas: tuple[str, ...] = REPLICAS) -> None:
        self.group = group
        self.workdir = Path(workdir)
        self.mode = mode
        self.heartbeat = heartbeat
        self.checkpoint = checkpoint
        self.logs = self.workdir / "logs"
        (self.logs / "twistd").mkdir(parents=True, exist_ok=True)
        self.cluster = self.workdir / "cluster.json"
        self.replicas = replicas
        self.ports = {name: free_port() for name in ("rm", "gfd", *replicas)}
        write_cluster(self.cluster, self.ports, replicas=replicas)

    def _twistd(self, name: str, *args: str) -> None:
        self.group.start(name, [*twistd_command(), "-n", "--pidfile=",
                                f"--logfile={self.logs / 'twistd' / (name + '.log')}",
                                *args, "--cluster", str(self.cluster), "--logs", str(self.logs)])

    def start(self, timeout: float = 40.0) -> None:
        """Start everything; return once every replica is ready."""
        self._twistd("RM", "rm", "--mode", self.mode)
        self._twistd("GFD", "gfd", "--heartbeat-freq", str(self.heartbeat))
        for replica in self.replicas:
            lfd = "LFD" + replica[1:]
            self._twistd(lfd, "lfd", "--name", lfd, "--heartbeat-freq",
                         str(self.heartbeat), "--checkpoint-freq", str(self.checkpoint))
        wait_for(lambda: self.ready() >= set(self.replicas), timeout, "every replica to be ready")

    def log(self, name: str) -> list[str]:
        return lines(self.logs / f"{name}.log")

    def ready(self) -> set[str]:
        """Replicas the RM counts as ready now, from its log."""
        return ready(self.log("RM"))

    def primary(self) -> Optional[str]:
        return primary(self.log("RM"))

    def pid(self, name: str) -> int:
        return int((self.logs / f"{name}.pid").read_text())

    def kill(self, replica: str, timeout: float = 40.0) -> None:
        """SIGKILL ``replica``; return once the RM saw it go, and it is back and ready."""
        rm_before = len(self.log("RM"))
        os.kill(self.pid(replica), signal.SIGKILL)
        gone = f"Received <GFD, {replica}, delete, membership>"
        back = f"Received <{replica}, ready>"

        def recovered() -> bool:
            after = self.log("RM")[rm_before:]
            return gone in after and back in after[after.index(gone):]
        wait_for(recovered, timeout, f"{replica} to be relaunched and ready")

    def state(self, replica: str) -> Optional[int]:
        """The counter ``replica`` last printed (after a request or a checkpoint)."""
        value = None
        for line in self.log(replica):
            if m := _STATE.search(line):
                value = int(m.group(1) or m.group(2))
        return value

    def start_client(self, name: str, requests: Optional[int] = None, interval: float = 0.05,
                     timeout: float = 1.0, logs: bool = True) -> Path:
        history = self.workdir / f"{name}.history"
        args = [*command("replica-client"), "--name", name, "--cluster", str(self.cluster),
                "--interval", str(interval), "--timeout", str(timeout), "--history", str(history)]
        if logs:
            args += ["--logs", str(self.logs)]
        if requests is not None:
            args += ["--requests", str(requests)]
        self.group.start(name, args)
        return history

    def answered(self, client: str) -> int:
        return sum(1 for line in self.log(client) if re.fullmatch(r"Received <\w+, S\d+, \d+, reply>", line)
                   ) - self.discarded(client)

    def discarded(self, client: str) -> int:
        return sum(1 for line in self.log(client) if "Discarded duplicate" in line)

    def stop_client(self, name: str, timeout: float = 30.0) -> int:
        """Ask a client to stop after its current request; its exit code."""
        process = self.group.processes[name]
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.group.stop(name)
