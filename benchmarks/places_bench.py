"""Places herd benchmark: how fast a location crosses the herd, how many IAMATs a server takes.

Everything runs on 127.0.0.1: the specification's five servers, each started as
``places-server NAME`` (what ``bin/server.py`` runs) through ``herd.testing.places``, on free
ports; every process is stopped at the end, also on error or Ctrl-C.

1. Propagation to the farthest server: IAMATs for fresh clients are sent to Hands, one at a
   time, a few milliseconds apart; for each, the time from Hands logging the IAMAT to Welsh
   (three hops away) logging the flooded AT line as news, both read from the servers'
   traffic logs (same machine, same clock). Median and 99th percentile.
2. IAMATs per second one server handles, inside the running herd (so every IAMAT is also
   flooded to three neighbours, and on through the herd):
   * pipelined: one connection carrying N IAMAT lines for distinct clients; time until the
     N AT replies are read;
   * one connection per command, as the graders' clients do (connect, write, half-close,
     read), M times in a row.
3. Start-up: seconds from ``python3 bin/server.py NAME`` (as the graders run it) to its
   port accepting a connection, median and worst of S starts, with the machine as it is
   ("idle") and with one busy-looping process per core ("loaded"). Anchors, measured the
   same way right after: ``twistd -n places --name NAME`` (the same server through
   twistd's plugin scan, how ``bin/server.py`` ran before) and a bare asyncio server in
   ``python3`` (what a plain asyncio herd costs at least).

Run from the repository root:

    .venv/bin/python benchmarks/places_bench.py            # 300 propagations, N=20000, M=2000, S=10
    .venv/bin/python benchmarks/places_bench.py --quick    # 50, 2000, 300, S=10
    .venv/bin/python benchmarks/places_bench.py --only startup   # or --only herd
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import twisted

from herd.core.launcher import twistd_command
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, wait_for
from herd.testing.places import start_herd, talk, traffic


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def propagation(herd, count: int, gap: float) -> list[float]:
    """Seconds from Hands' IAMAT to Welsh's news of it, for ``count`` fresh clients."""
    clients = [f"probe-{i}-{time.time_ns()}" for i in range(count)]
    for client in clients:
        talk(herd.ports["Hands"], f"IAMAT {client} +34.068930-118.445127 {time.time():.9f}".encode())
        time.sleep(gap)

    def arrived() -> bool:
        news = {e["data"].split(" ")[3] for e in traffic(herd.logs, "Welsh")
                if e.get("event") == "flood-in" and e.get("news")}
        return all(c in news for c in clients)

    wait_for(arrived, 60, "Welsh to learn every probe", every=0.2)
    sent = {e["data"].split()[1]: seconds(e["time"]) for e in traffic(herd.logs, "Hands")
            if e.get("event") == "in" and e["data"].startswith("IAMAT probe-")}
    seen = {e["data"].split(" ")[3]: seconds(e["time"]) for e in traffic(herd.logs, "Welsh")
            if e.get("event") == "flood-in" and e.get("news")}
    return [seen[c] - sent[c] for c in clients]


def seconds(iso: str) -> float:
    """A traffic log time stamp as seconds since the epoch."""
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def pipelined(port: int, count: int) -> float:
    """IAMATs per second over one connection carrying ``count`` lines."""
    stamp = time.time()
    lines = b"".join(f"IAMAT pipe-{i} +10.0-20.0 {stamp + i:.6f}\n".encode() for i in range(count))
    started = time.perf_counter()
    with socket.create_connection((LOOPBACK, port), timeout=60) as sock:
        sock.sendall(lines)
        sock.shutdown(socket.SHUT_WR)
        received = 0
        while received < count:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    if received != count:
        raise RuntimeError(f"only {received} of {count} replies")
    return count / elapsed


def per_connection(port: int, count: int) -> float:
    """IAMATs per second, one connection per command."""
    started = time.perf_counter()
    for i in range(count):
        if not talk(port, f"IAMAT conn-{i} +10.0-20.0 {time.time():.6f}".encode()).startswith(b"AT "):
            raise RuntimeError("a bad reply")
    return count / (time.perf_counter() - started)


REPO = Path(__file__).resolve().parent.parent
ASYNCIO_SERVER = (
    "import asyncio, sys\n"
    "async def main():\n"
    "    async def echo(r, w): w.close()\n"
    "    server = await asyncio.start_server(echo, '127.0.0.1', int(sys.argv[1]))\n"
    "    await server.serve_forever()\n"
    "asyncio.run(main())\n"
)


def listens_after(argv: list[str], port: int, cwd: Path, timeout: float = 20) -> float:
    """Seconds from starting ``argv`` to its first accepted connection on ``port``."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            try:
                socket.create_connection((LOOPBACK, port), timeout=1).close()
                return time.perf_counter() - started
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{argv} exited with {proc.returncode}")
                time.sleep(0.002)
        raise RuntimeError(f"{argv} did not listen within {timeout} s")
    finally:
        proc.terminate()
        proc.wait(10)


def startup(starts: int) -> list[tuple[str, str, list[float]]]:
    """(command, load, seconds of each start) for herd's server and the two anchors."""
    with tempfile.TemporaryDirectory(prefix="herd-places-start-") as work:
        cwd = Path(work)
        port = free_port()
        (cwd / "topology.json").write_text(json.dumps(
            {"host": LOOPBACK, "servers": {"Solo": {"port": port, "peer_port": free_port()}}}))
        commands = {
            "python3 bin/server.py Solo": ["python3", str(REPO / "bin" / "server.py"), "Solo"],
            "twistd -n places --name Solo": [*twistd_command(), "-n", "--pidfile=", "places",
                                             "--topology", str(cwd / "topology.json"), "--name", "Solo"],
            "python3 -c <bare asyncio server>": ["python3", "-c", ASYNCIO_SERVER, str(port)],
        }
        rows = []
        for load in ("idle", "loaded"):
            busy = [] if load == "idle" else [
                subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(len(os.sched_getaffinity(0)))]
            try:
                time.sleep(0.5 if busy else 0)
                times: dict[str, list[float]] = {label: [] for label in commands}
                for _ in range(starts):  # interleaved, so that a change of load hits all alike
                    for label, argv in commands.items():
                        times[label].append(listens_after(argv, port, cwd))
                rows += [(label, load, times[label]) for label in commands]
            finally:
                for proc in busy:
                    proc.kill()
                    proc.wait()
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--probes", type=int)
    parser.add_argument("--pipelined", type=int)
    parser.add_argument("--connections", type=int)
    parser.add_argument("--starts", type=int, default=10, help="starts per start-up measurement")
    parser.add_argument("--only", choices=["herd", "startup"], help="run one part only")
    args = parser.parse_args()
    probes = args.probes or (50 if args.quick else 300)
    lines = args.pipelined or (2000 if args.quick else 20000)
    connections = args.connections or (300 if args.quick else 2000)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    load_before = os.getloadavg()[0]
    results = []
    if args.only != "startup":
        with tempfile.TemporaryDirectory(prefix="herd-places-bench-") as work, \
                ProcessGroup(Path(work) / "out") as group:
            herd = start_herd(group, Path(work))
            delays = propagation(herd, probes, 0.01)
            pipe_rate = pipelined(herd.ports["Goloman"], lines)
            conn_rate = per_connection(herd.ports["Wilkes"], connections)
        ms = [d * 1000 for d in delays]
        results += [
            f"| IAMAT propagation Hands -> Welsh (3 hops) | {probes} IAMATs, 10 ms apart | "
            f"median {statistics.median(ms):.2f} ms, p99 {percentile(ms, 99):.2f} ms, max {max(ms):.2f} ms |",
            f"| IAMATs/s at one server, pipelined | {lines} lines on one connection | {pipe_rate:,.0f} /s |",
            f"| IAMATs/s at one server, one connection each | {connections} connections | {conn_rate:,.0f} /s |",
        ]
    if args.only != "herd":
        for label, load, times in startup(args.starts):
            results.append(f"| start to listening: `{label}` | {load}, {len(times)} starts | "
                           f"median {statistics.median(times):.3f} s, worst {max(times):.3f} s |")
    print(f"Machine: {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}, "
          f"Twisted {twisted.__version__}, {platform.platform()}; load average {load_before:.1f} at the start")
    print(f"Command: `{' '.join(shlex.quote(a) for a in ['.venv/bin/python', *sys.argv])}` "
          f"(total {time.time() - started:.0f} s)\n")
    print("| Benchmark | Setting | Result |")
    print("|---|---|---|")
    print("\n".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
