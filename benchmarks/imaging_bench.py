"""Imaging benchmark: images filtered per second through the whole system, against a bare
Pillow loop over the same images on the same machine, and the API's latency meanwhile.

Everything runs on 127.0.0.1 in real processes (``twistd -n imaging`` and
``bin/imaging-worker``, through ``herd.testing.imaging``), stopped at the end, also on
error or Ctrl-C.

1. Anchor: one Python loop that opens each frame, applies the filter
   (``herd.imaging.worker.filters.apply``, the workers' own code) and encodes the result,
   with no I/O: images/s on one core.
2. For 1, 2 and 4 workers (``--workers``; each worker runs ``--slots`` jobs at once, 1 by
   default, so a worker is at most one core): a fresh server and workers; one workload;
   N frames uploaded by ``--uploaders`` threads; images/s = N / (first upload to
   ``completed`` seen). Meanwhile a thread sends ``GET /workloads/{id}`` every 20 ms:
   latency p50/p99/max.
3. Ratio = system images/s / (anchor images/s x cores used), cores used = min(workers x
   slots, CPUs of this machine). The target is 0.8. The anchor is measured again right
   before each system run (the machine is shared: its speed drifts). Client, server and
   workers share the machine's cores: on a 2-core machine the ratio is a floor.
4. CPU per image: the CPU seconds the server and the workers spent during the run (psutil,
   start-up excluded), per image, against the anchor's CPU per image. This one does not
   depend on what else the machine runs: it is the system's overhead.

Run from the repository root:

    .venv/bin/python benchmarks/imaging_bench.py             # 300 frames of 640x480, grayscale
    .venv/bin/python benchmarks/imaging_bench.py --quick     # 60 frames
    .venv/bin/python benchmarks/imaging_bench.py --filter blur --workers 1,2
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import PIL
import psutil
import twisted

from herd.core.processes import ProcessGroup
from herd.imaging.worker.filters import apply
from herd.testing.imaging import Client, ImagingSystem, frame


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def anchor(frames: list[bytes], name: str) -> tuple[float, float]:
    """Images/s of a bare Pillow loop (one core), and its CPU ms per image."""
    apply(name, frames[0])  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    for data in frames:
        apply(name, data)
    return (len(frames) / (time.perf_counter() - started),
            (time.process_time() - cpu) / len(frames) * 1000)


def cpu_seconds(group: ProcessGroup, names: list[str]) -> float:
    """User + system CPU seconds of the named processes so far."""
    total = 0.0
    for name in names:
        times = psutil.Process(group.processes[name].pid).cpu_times()
        total += times.user + times.system
    return total


def run_system(frames: list[bytes], workers: int, slots: int, name: str, uploaders: int,
               root: Path) -> dict[str, float]:
    """Images/s through a fresh system with ``workers`` workers, and GET latencies."""
    with ProcessGroup(root / "logs") as group:
        system = ImagingSystem(group, root / "data", root / "users")
        system.add_user("bench", "bench")
        system.start_server("--max-queue", str(len(frames) + 10), "--report-interval", "1")
        for index in range(workers):
            system.start_worker(f"w{index + 1}", "--slots", str(slots))
        client = system.client()
        assert client.login("bench", "bench").status == 200
        workload = client.create_workload(filter=name).json()["workload_id"]
        latencies: list[float] = []
        stop = threading.Event()

        def poll() -> None:
            watcher = Client(client.base, client.token)
            while not stop.is_set():
                started = time.perf_counter()
                assert watcher.get(f"/workloads/{workload}").status == 200
                latencies.append(time.perf_counter() - started)
                stop.wait(0.02)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        names = ["server", *(f"w{index + 1}" for index in range(workers))]
        cpu_before = {name: cpu_seconds(group, [name]) for name in names}
        started = time.perf_counter()
        with ThreadPoolExecutor(uploaders) as pool:
            replies = list(pool.map(lambda data: Client(client.base, client.token).upload(workload, data).status,
                                    frames))
        assert set(replies) == {201}, set(replies)
        uploaded = time.perf_counter() - started
        client.wait_completed(workload, len(frames), timeout=600)
        elapsed = time.perf_counter() - started
        cpu = {name: cpu_seconds(group, [name]) - cpu_before[name] for name in names}
        stop.set()
        watcher.join(5)
        server_ms = cpu["server"] / len(frames) * 1000
        workers_ms = sum(v for k, v in cpu.items() if k != "server") / len(frames) * 1000
        return {"rate": len(frames) / elapsed, "upload_s": uploaded, "elapsed": elapsed,
                "server_ms": server_ms, "workers_ms": workers_ms,
                "p50": percentile(latencies, 50) * 1000, "p99": percentile(latencies, 99) * 1000,
                "max": max(latencies) * 1000, "polls": len(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="640x480", help="frame size, WxH")
    parser.add_argument("--filter", default="grayscale", choices=["grayscale", "blur"])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--slots", type=int, default=1, help="jobs per worker at once")
    parser.add_argument("--uploaders", type=int, default=4, help="client threads uploading")
    parser.add_argument("--quick", action="store_true", help="60 frames")
    args = parser.parse_args()
    count = 60 if args.quick else args.frames
    width, height = (int(v) for v in args.size.split("x"))
    cpus = os.cpu_count() or 1
    print(f"# imaging benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"command: {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    print(f"machine: {platform.machine()}, {cpus} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"Python {platform.python_version()}, Twisted {twisted.__version__}, Pillow {PIL.__version__}")
    frames = [frame(i, (width, height)) for i in range(count)]
    print(f"{count} PNG frames of {width}x{height} ({sum(map(len, frames)) / count / 1024:.0f} KiB "
          f"each), filter {args.filter}\n")
    print("| workers x slots | Pillow loop images/s (same moment) | system images/s | per core used "
          "| ratio to the loop per core | CPU ms/image: loop / workers / server | "
          "GET /workloads/{id} p50 / p99 / max |")
    print("|---|---|---|---|---|---|---|")
    for workers in (int(w) for w in args.workers.split(",")):
        bare, bare_ms = anchor(frames, args.filter)
        with tempfile.TemporaryDirectory(prefix="imaging-bench-") as tmp:
            result = run_system(frames, workers, args.slots, args.filter, args.uploaders, Path(tmp))
        cores = min(workers * args.slots, cpus)
        ratio = result["rate"] / (bare * cores)
        print(f"| {workers} x {args.slots} | {bare:.1f} | {result['rate']:.1f} | "
              f"{result['rate'] / cores:.1f} | {ratio:.2f} | {bare_ms:.1f} / "
              f"{result['workers_ms']:.1f} / {result['server_ms']:.1f} | {result['p50']:.1f} / "
              f"{result['p99']:.1f} / {result['max']:.1f} ms ({result['polls']} GETs) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
