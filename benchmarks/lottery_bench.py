#!/usr/bin/env python3
"""Bets stored per second from 5 agencies at once, against batch size, herd vs the seed.

For each batch size (1, 10, 100 and the 8 kB maximum) the same load goes to:

- herd's server (``twistd -n lottery``), and
- the anchor, ``benchmarks/lottery_seed_server.py``: the server written the way the seed
  wrote it (blocking ``socket``, ``multiprocessing`` pool, a ``Manager``-served store with
  a lock, a ``Barrier``), as durable as herd's (fsync per BET_BATCH, before its ACK).

The load: 5 agency processes released together by a barrier, each on one connection,
sending BET_BATCH frames one at a time (the next once the previous is acknowledged, as the
course's client did), then BET_BATCH_END. The bets are the course's data set dealt round
robin to the 5 agencies, the same count each (fewer at small batches, to keep runs short).
The disk's limit is measured too: one writer appending a small line and fsyncing, in a loop.

    .venv/bin/python benchmarks/lottery_bench.py [--sizes 1,10,100,max] [--rounds 3] [--profile DIR]

Each size is measured ``--rounds`` times, herd and seed alternating, each run preceded
(and the last one followed) by a fresh probe of the disk's fsync rate, at least 0.5 s
long, in the servers' own directory (the shared disk's rate moves a lot from second to
second). ``fsyncs/s`` is the probes' median, ``seed fs/s`` the fsyncs per second the seed
itself made (one per BET_BATCH: a lower bound of the disk's rate during its runs), the
ratio the median of the paired (back to back) runs' ratios; the line ends with each run,
the probes' range and how long the probe waited for a CPU (then it measured the load, not
the disk). The table gives medians of: bets stored per second (wall clock), each
server's CPU time per bet (all its processes; ``/proc/*/task/*/schedstat``), their ratio,
and how long each server's processes waited for a CPU while runnable, per second of the
run (above 1: more than one process waiting at once; the machine's other load shows here),
and the median / 99th percentile of a frame's wait for its ACKNOWLEDGE (ms).

``--profile DIR`` also runs herd's server under cProfile (``twistd --profile``) at each
size and prints its top functions. Figures are noisy on a shared machine: run it twice.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pstats
import shutil
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from herd.core.launcher import twistd_command as twistd  # noqa: E402
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, tcp_accepts, wait_for  # noqa: E402
from herd.lottery.dataset import course_dataset  # noqa: E402
from herd.protocols.lottery import ClientFrame, ClientKind, MAX_FRAME, batches  # noqa: E402

AGENCIES = 5
SEED_SERVER = Path(__file__).resolve().parent / "lottery_seed_server.py"
BETS_PER_AGENCY = {1: 400, 10: 2000, 100: 15000, 0: 15000}
"""Bets each agency sends at each batch size (0: the 8 kB maximum)."""


def _cpu_wait() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (``schedstat``)."""
    with open("/proc/thread-self/schedstat") as stream:
        return int(stream.read().split()[1]) / 1e9


def fsync_rate(directory: Path, count: int = 300, seconds: float = 0.5) -> tuple[float, float]:
    """Appends-and-fsyncs per second of one writer of small lines (the disk's limit), in
    the servers' directory, the way herd's store writes (``O_APPEND``, one line, fsync),
    for at least ``count`` fsyncs and ``seconds``; and the share of that time the probe
    spent runnable but waiting for a CPU (a probe that waits for a CPU after each fsync
    measures the machine's load, not the disk)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        line = b"1,Santiago Lionel,Lorca,30904465,1999-03-17,2201\n"
        done = 0
        waited = _cpu_wait()
        started = time.perf_counter()
        while done < count or time.perf_counter() - started < seconds:
            os.write(fd, line)
            os.fsync(fd)
            done += 1
        elapsed = time.perf_counter() - started
        return done / elapsed, (_cpu_wait() - waited) / elapsed
    finally:
        os.close(fd)
        path.unlink()


def deal(files: dict[int, Path], per_agency: int) -> list[list[bytes]]:
    """The course's bets dealt round robin to the agencies, ``per_agency`` each."""
    everything = [line.rstrip(b"\r") for path in files.values()
                  for line in path.read_bytes().splitlines() if line.strip()]
    hands: list[list[bytes]] = [[] for _ in range(AGENCIES)]
    for index, bet in enumerate(everything[:per_agency * AGENCIES]):
        hands[index % AGENCIES].append(bet)
    return hands


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def _agency(agency: int, port: int, payloads: list[bytes], barrier, results) -> None:  # type: ignore[no-untyped-def]
    with socket.create_connection((LOOPBACK, port), timeout=120) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        barrier.wait()
        waits = []
        for frame in payloads:
            sent = time.monotonic()
            sock.sendall(frame)
            kind, size = struct.unpack("<BI", _recv(sock, 5))
            _recv(sock, size)
            waits.append(time.monotonic() - sent)
        results.put((agency, time.monotonic(), waits))


def load(port: int, hands: list[list[bytes]], max_amount: int) -> tuple[float, list[float]]:
    """Seconds for the 5 agencies to have every bet acknowledged and their end too, and
    how long each frame waited for its answer."""
    frames = []
    for agency, bets in enumerate(hands, 1):
        out = [ClientFrame(ClientKind.BET_BATCH, agency, payload).encode()
               for _, payload in batches(bets, max_amount)]
        out.append(ClientFrame(ClientKind.BET_BATCH_END, agency).encode())
        frames.append(out)
    barrier = multiprocessing.Barrier(AGENCIES + 1)
    results: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_agency, args=(a, port, frames[a - 1], barrier, results))
               for a in range(1, AGENCIES + 1)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.monotonic()
    done = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(30)
    return max(end for _, end, _ in done) - started, [w for _, _, waits in done for w in waits]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """Seconds a process and its children (the seed's pool and managers) have spent on a
    CPU, and waiting for one while runnable (``/proc/*/task/*/schedstat``)."""
    on_cpu = waiting = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            for task in os.listdir(f"/proc/{process.pid}/task"):
                with open(f"/proc/{process.pid}/task/{task}/schedstat") as stream:
                    ran, waited, _ = stream.read().split()
                on_cpu += int(ran) / 1e9
                waiting += int(waited) / 1e9
        except (OSError, psutil.Error):
            continue
    return on_cpu, waiting


HERD_OPTIONS: list[str] = []
"""Extra options of ``twistd lottery`` (``--herd-options``)."""


def run_server(kind: str, work: Path, hands: list[list[bytes]], max_amount: int,
               profile: Path | None = None) -> tuple[float, float, float, float, float]:
    """Bets per second stored by server ``kind`` (``herd`` or ``seed``) under the load, the
    server's CPU microseconds per bet, and the seconds its processes spent runnable but
    waiting for a CPU, per second of the run (the machine's contention), and the median and
    99th percentile of a frame's wait for its ACKNOWLEDGE, in ms."""
    port = free_port()
    store = work / f"store-{kind}-{max_amount}"
    shutil.rmtree(store, ignore_errors=True)
    with ProcessGroup(work / "logs") as group:
        if kind == "herd":
            extra = ["--profile", str(profile), "--profiler", "cprofile", "--savestats"] if profile else []
            process = group.start(kind, [*twistd(), "-n", "--pidfile=", *extra, "lottery", "--agencies",
                               str(AGENCIES), "--port", str(port), "--interface", LOOPBACK,
                               "--store", str(store), "--log-level", "WARNING", *HERD_OPTIONS])
        else:
            process = group.start(kind, [sys.executable, str(SEED_SERVER), str(port), str(store),
                                         str(AGENCIES)])
        wait_for(lambda: tcp_accepts(port), 30, f"the {kind} server")
        time.sleep(0.5)  # the seed's pool and managers are up
        ran, waited = cpu_seconds(process.pid)
        seconds, waits = load(port, hands, max_amount)
        ran_after, waited_after = cpu_seconds(process.pid)
        group.stop(kind)
    stored = sum(1 for _ in open(store / "bets.csv", "rb"))
    expected = sum(len(hand) for hand in hands)
    if stored != expected:
        raise RuntimeError(f"{kind} stored {stored} bets of {expected}")
    waits.sort()
    return (expected / seconds, (ran_after - ran) * 1e6 / expected, (waited_after - waited) / seconds,
            waits[len(waits) // 2] * 1e3, waits[int(len(waits) * 0.99)] * 1e3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,max", help="batch sizes (max: the 8 kB maximum)")
    parser.add_argument("--profile", type=Path, help="also profile herd's server; stats go here")
    parser.add_argument("--herd-options", default="", help="extra options of twistd lottery, "
                        "e.g. '--write-thread --group-linger 0'")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each server per size")
    parser.add_argument("--workdir", type=Path, help="stores and logs (default: a temporary directory)")
    args = parser.parse_args()
    HERD_OPTIONS.extend(args.herd_options.split())
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lottery-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    files = course_dataset(work)
    print(f"{'batch':>6} {'bets/agency':>11} {'fsyncs/s':>9} {'seed fs/s':>9} {'herd bets/s':>12} "
          f"{'seed bets/s':>12} {'ratio':>6} {'herd us/bet':>11} {'seed us/bet':>11} {'cpu ratio':>9} {'herd wait':>9} "
          f"{'seed wait':>9} {'herd ack ms':>12} {'seed ack ms':>12}", flush=True)
    for text in args.sizes.split(","):
        size = 0 if text == "max" else int(text)
        max_amount = size or MAX_FRAME  # a frame fills up at 8 kB long before this many bets
        hands = deal(files, BETS_PER_AGENCY.get(size, 15000))
        disks, herds, seeds = [], [], []
        for _ in range(args.rounds):
            disks.append(fsync_rate(work))
            herds.append(run_server("herd", work, hands, max_amount))
            disks.append(fsync_rate(work))
            seeds.append(run_server("seed", work, hands, max_amount))
        disks.append(fsync_rate(work))
        seed_frames = sum(1 for hand in hands for _ in batches(hand, max_amount))
        h = [median(run[i] for run in herds) for i in range(5)]
        x = [median(run[i] for run in seeds) for i in range(5)]
        label = text if size else "8 kB"
        rates = sorted(rate for rate, _ in disks)
        print(f"{label:>6} {len(hands[0]):>11,} {median(rates):>9,.0f} "
              f"{x[0] * seed_frames / sum(map(len, hands)):>9,.0f} {h[0]:>12,.0f} {x[0]:>12,.0f} "
              f"{median(a[0] / b[0] for a, b in zip(herds, seeds)):>5.1f}x {h[1]:>11.1f} {x[1]:>11.1f} {x[1] / h[1]:>8.1f}x "
              f"{h[2]:>9.2f} {x[2]:>9.2f} {h[3]:>5.2f}/{h[4]:<6.1f} {x[3]:>5.2f}/{x[4]:<6.1f}  "
              f"(herd {'/'.join(f'{run[0]:,.0f}' for run in herds)}; "
              f"seed {'/'.join(f'{run[0]:,.0f}' for run in seeds)}; "
              f"probe {rates[0]:,.0f}..{rates[-1]:,.0f}/s, waiting for a CPU "
              f"{median(wait for _, wait in disks):.0%} of its time)", flush=True)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            stats = args.profile / f"herd-{label.replace(' ', '')}.prof"
            run_server("herd", work, hands, max_amount, profile=stats)
            print(f"-- profile of herd at batch {label} ({stats}):")
            pstats.Stats(str(stats)).sort_stats("tottime").print_stats(12)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
