#!/usr/bin/env python3
"""replication: failover time, requests per second per mode, recovery time.

Run by hand: ``.venv/bin/python benchmarks/replication_bench.py [--quick]``. Real processes
on free loopback ports (``herd.testing.replication``), figures noisy on a shared machine.

1. Failover (passive): the primary is SIGKILLed while a client sends requests back to back;
   the figure is the time from the kill to the first reply from the new primary, for
   heartbeat periods 0.1, 0.5 and 1 s, and its ratio to the heartbeat period (the target
   is under 2 periods plus a round trip: the LFD's deadline is 2 periods, checked every
   tenth of a period).
2. Throughput: requests per second with 3 clients sending back to back, in each mode with
   3 replicas; the anchor is the same load on a single replica (no backups: no log entry
   round trip), so the ratio is the cost of replication and of exactly-once.
3. Recovery: a backup is SIGKILLed; the time until the RM hears it is ready again
   (detection + relaunch of a twistd process + checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from herd.testing.processes import ProcessGroup, wait_for
from herd.testing.replication import ReplicationCluster

CLIENTS = ("C1", "C2", "C3")


def history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def failover(heartbeat: float, work: Path) -> float:
    """Seconds from the primary's SIGKILL to the first reply from the new primary."""
    with ProcessGroup(work / "processes") as group:
        cluster = ReplicationCluster(group, work, "passive", heartbeat=heartbeat, checkpoint=1.0)
        cluster.start(timeout=60)
        path = cluster.start_client("C1", interval=0.0, timeout=max(4 * heartbeat, 1.0), logs=False)
        wait_for(lambda: len(history(path)) >= 20, 30, "20 replies")
        old = cluster.primary()
        killed = time.time()
        os.kill(cluster.pid(old), signal.SIGKILL)

        def after() -> float | None:
            for op in history(path):
                if op["server"] != old and op["complete"] > killed:
                    return op["complete"] - killed
            return None
        return wait_for(after, 30, "a reply from the new primary", every=0.02)


def throughput(mode: str, replicas: tuple[str, ...], seconds: float, work: Path) -> float:
    """Requests answered per second with 3 clients sending back to back."""
    with ProcessGroup(work / "processes") as group:
        cluster = ReplicationCluster(group, work, mode, heartbeat=0.5, checkpoint=1.0,
                                     replicas=replicas)
        cluster.start(timeout=60)
        paths = [cluster.start_client(c, interval=0.0, timeout=5.0, logs=False) for c in CLIENTS]
        wait_for(lambda: all(len(history(p)) >= 5 for p in paths), 30, "every client going")
        time.sleep(seconds)
        for client in CLIENTS:
            cluster.stop_client(client)
        ops = [op for p in paths for op in history(p)]
        start = sorted(op["invoke"] for op in ops)[15]  # skip the warm-up
        counted = [op for op in ops if op["invoke"] >= start]
        span = max(op["complete"] for op in counted) - start
        return len(counted) / span


def recovery(work: Path) -> float:
    """Seconds from a backup's SIGKILL until the RM counts it ready again."""
    with ProcessGroup(work / "processes") as group:
        cluster = ReplicationCluster(group, work, "passive", heartbeat=0.2, checkpoint=1.0)
        cluster.start(timeout=60)
        backup = next(r for r in cluster.replicas if r != cluster.primary())
        before = len(cluster.log("RM"))
        killed = time.monotonic()
        os.kill(cluster.pid(backup), signal.SIGKILL)
        gone = f"Received <GFD, {backup}, delete, membership>"
        back = f"Received <{backup}, ready>"

        def ready() -> bool:
            lines = cluster.log("RM")[before:]
            return gone in lines and back in lines[lines.index(gone):]
        wait_for(ready, 60, f"{backup} ready again", every=0.02)
        return time.monotonic() - killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run each, shorter loads")
    args = parser.parse_args()
    runs = 1 if args.quick else 3
    seconds = 3.0 if args.quick else 6.0
    with tempfile.TemporaryDirectory(prefix="replication-bench-") as tmp:
        base = Path(tmp)
        n = 0

        def work() -> Path:
            nonlocal n
            n += 1
            return base / f"run{n}"

        print("failover, passive mode (primary SIGKILLed -> first reply from the new primary)")
        for heartbeat in (0.1, 0.5, 1.0):
            times = [failover(heartbeat, work()) for _ in range(runs)]
            median = statistics.median(times)
            print(f"  heartbeat {heartbeat:4.1f} s: median {median:6.3f} s = {median / heartbeat:4.2f} "
                  f"periods  (runs: {', '.join(f'{t:.3f}' for t in times)})", flush=True)

        print("throughput, 3 clients back to back (requests answered per second)")
        anchor = throughput("passive", ("S1",), seconds, work())
        print(f"  anchor, one replica:     {anchor:7.0f} req/s", flush=True)
        for mode in ("passive", "active"):
            rate = throughput(mode, ("S1", "S2", "S3"), seconds, work())
            print(f"  {mode:7}, 3 replicas:    {rate:7.0f} req/s  ({rate / anchor:4.2f} x anchor)",
                  flush=True)

        print("recovery (backup SIGKILLed -> ready again; heartbeat 0.2 s)")
        times = [recovery(work()) for _ in range(runs)]
        print(f"  median {statistics.median(times):6.3f} s  (runs: {', '.join(f'{t:.3f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
