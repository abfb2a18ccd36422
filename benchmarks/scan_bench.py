"""Scan pool benchmark: how fast the orchestrator acknowledges CHECKs, how fast a pool scans.

Everything runs on 127.0.0.1, in processes started the way a user starts them
(``twistd -n orchestrator``, ``twistd -n web``, ``launch-workers``) through
``herd.testing``; every process is stopped at the end, also on error or Ctrl-C.

1. CHECK acks/s: one orchestrator with no workers (jobs only queue, in memory) and one
   blocking UDP client.
   * request/reply: send a CHECK, wait for its ``200 OK <job id>``, repeat N times;
     acks/s and latency p50/p99.
   * pipelined: keep WINDOW datagrams outstanding, counting replies; a reply that does not
     come within the timeout counts as lost.
2. End-to-end pages/s with 1, 2 and 5 workers, each in a fresh pool and temp dir: send M
   CHECKs cycling over the demo site's manifest, poll STATUS until the workers' ``jobs
   done`` add up to M with nothing queued; pages/s = M / (first send -> all done seen).
   YES/NO/ERROR come from the orchestrator's database.

Run from the repository root:

    .venv/bin/python benchmarks/scan_bench.py            # N=5000, M=500 (under a minute)
    .venv/bin/python benchmarks/scan_bench.py --quick    # N=1000, M=30
    .venv/bin/python benchmarks/scan_bench.py --json results.json --keep /tmp/bench-logs

It prints a Markdown table (paste it into benchmarks/README.md) and, with --json, saves
the figures. The completion time is seen by polling STATUS every 20 ms, so it is that coarse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import psutil
import twisted

from herd.protocols.scan import MAX_REPLY, ProtocolError
from herd.protocols.scan_replies import parse_status
from herd.scan.cli.udp_client import NoAnswer, ask
from herd.scan.orchestrator.store import Store
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, wait_for
from herd.testing.scan import ScanPool, start_orchestrator, start_scan_pool

ACK_MESSAGE = b"CHECK http://127.0.0.1:9/bench.html BENCH_AD S1"  # never fetched: no workers


def job_results(db: Path) -> list[str]:
    """YES/NO/ERROR of every finished job, from the orchestrator's database (the log has
    them only with ``--log-level debug``)."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT result FROM jobs WHERE result IS NOT NULL").fetchall()
    return [result.upper() for (result,) in rows]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0-100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def drain(sock: socket.socket, wait: float = 0.2) -> int:
    """Read and drop whatever replies are still coming; how many there were."""
    sock.settimeout(wait)
    count = 0
    try:
        while count < 1_000_000:
            sock.recv(MAX_REPLY * 4)
            count += 1
    except socket.timeout:
        pass
    return count


def request_reply(sock: socket.socket, n: int, timeout: float, limit: float,
                  expect: bytes = b"200 OK ") -> dict:
    """N CHECKs one at a time; acks/s, latency percentiles, losses."""
    sock.settimeout(timeout)
    latencies, lost, bad = [], 0, 0
    start = time.perf_counter()
    for _ in range(n):
        if time.perf_counter() - start > limit:
            break
        sent = time.perf_counter()
        sock.send(ACK_MESSAGE)
        try:
            reply = sock.recv(MAX_REPLY * 4)
        except socket.timeout:
            lost += 1
            continue
        latencies.append(time.perf_counter() - sent)
        bad += not reply.startswith(expect)
    elapsed = time.perf_counter() - start
    late = drain(sock)
    return {"sent": len(latencies) + lost, "acked": len(latencies), "lost": lost, "late": late,
            "bad": bad, "seconds": elapsed, "acks_per_s": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3}


def pipelined(sock: socket.socket, n: int, window: int, timeout: float, limit: float,
              expect: bytes = b"200 OK ") -> dict:
    """N CHECKs with up to ``window`` outstanding; acks/s and losses."""
    sock.settimeout(timeout)
    sent = acked = lost = bad = outstanding = 0
    start = time.perf_counter()
    while acked + lost < n and time.perf_counter() - start < limit:
        while outstanding < window and sent < n:
            sock.send(ACK_MESSAGE)
            sent += 1
            outstanding += 1
        try:
            reply = sock.recv(MAX_REPLY * 4)
        except socket.timeout:
            lost, outstanding = lost + outstanding, 0  # nothing for `timeout` s: all gone
            continue
        acked += 1
        outstanding = max(0, outstanding - 1)
        bad += not reply.startswith(expect)
    elapsed = time.perf_counter() - start
    late = drain(sock)
    return {"sent": sent, "acked": acked, "lost": lost, "late": late, "bad": bad,
            "window": window, "seconds": elapsed, "acks_per_s": acked / elapsed}


HERE = Path(__file__).resolve().parent
INGEST_SERVERS = ("echo", "plain", "herd-durable", "herd-memory")
"""Part 1's servers: the bare Twisted echo (anchor), the plain in-memory reference
(``scan_anchor_plain.py``), herd's orchestrator with ``--db`` a file and ``:memory:``."""


def start_ingest_server(group: ProcessGroup, kind: str, port: int) -> None:
    """Start one of ``INGEST_SERVERS`` on loopback ``port``; return once it answers."""
    if kind.startswith("herd"):
        db = str(group.logs / "orchestrator.sqlite") if kind == "herd-durable" else ":memory:"
        # room for every CHECK sent here: past --max-queue they would get 503 BUSY
        start_orchestrator(group, port, "--db", db, "--max-queue", "10000000")
        return
    script = HERE / ("scan_anchor_echo.py" if kind == "echo" else "scan_anchor_plain.py")
    group.start(kind, [sys.executable, str(script), str(port)])

    def answers() -> bool:
        try:
            return bool(ask(LOOPBACK, port, b"STATUS", 0.3))
        except NoAnswer:
            return False

    wait_for(answers, 20, f"the {kind} server to answer")


def ingest_once(kind: str, n: int, window: int) -> dict:
    """One fresh ``kind`` server: warm-up, then request/reply (1 in flight) and pipelined."""
    expect = b"CHECK" if kind == "echo" else b"200 OK "
    with tempfile.TemporaryDirectory(prefix=f"herd-bench-{kind}-") as tmp:
        with ProcessGroup(Path(tmp)) as group:
            port = free_port(socket.SOCK_DGRAM)
            start_ingest_server(group, kind, port)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect((LOOPBACK, port))
                request_reply(sock, min(200, n), 2.0, 30, expect)  # warm-up, not reported
                rr = request_reply(sock, n, 2.0, 120, expect)
                pl = pipelined(sock, n, window, 1.0, 120, expect)
    return {"request_reply": rr, "pipelined": pl}


def bench_ingest(n: int, window: int, rounds: int) -> dict:
    """Part 1: every server of ``INGEST_SERVERS``, ``rounds`` times, interleaved so that
    a burst of load on the host hits them alike; the median of the rounds is reported."""
    runs: dict[str, list[dict]] = {kind: [] for kind in INGEST_SERVERS}
    for round_number in range(rounds):
        for kind in INGEST_SERVERS:
            print(f"part 1: round {round_number + 1}/{rounds}, {kind} ...", file=sys.stderr,
                  flush=True)
            runs[kind].append(ingest_once(kind, n, window))
    summary = {}
    for kind, results in runs.items():
        summary[kind] = {mode: {
            "acks_per_s": statistics.median(r[mode]["acks_per_s"] for r in results),
            "all": [round(r[mode]["acks_per_s"]) for r in results],
            "lost": sum(r[mode]["lost"] for r in results),
            "bad": sum(r[mode]["bad"] for r in results),
            "p50_ms": statistics.median(r[mode].get("p50_ms", 0.0) for r in results),
            "p99_ms": statistics.median(r[mode].get("p99_ms", 0.0) for r in results),
        } for mode in ("request_reply", "pipelined")}
    return {"checks": n, "window": window, "rounds": rounds, "servers": summary}


INGEST_TARGETS = (
    # (what, numerator, denominator, mode, target)
    ("herd durable vs echo, window", "herd-durable", "echo", "pipelined", 0.6),
    ("herd durable vs plain in-memory, window", "herd-durable", "plain", "pipelined", 2.0),
    ("herd durable vs echo, 1 in flight", "herd-durable", "echo", "request_reply", 0.5),
    ("herd durable vs plain in-memory, 1 in flight", "herd-durable", "plain", "request_reply", None),
    ("herd :memory: vs echo, window", "herd-memory", "echo", "pipelined", None),
)


def ingest_ratios(ingest: dict) -> list[dict]:
    """herd's ratios to the anchors, and whether each meets issue 11's target."""
    servers = ingest["servers"]
    rows = []
    for what, top, bottom, mode, target in INGEST_TARGETS:
        ratio = servers[top][mode]["acks_per_s"] / servers[bottom][mode]["acks_per_s"]
        rows.append({"what": what.replace("window", f"{ingest['window']} in flight"),
                     "ratio": ratio, "target": target,
                     "met": None if target is None else ratio >= target})
    return rows


def fill_database(db: Path, jobs: int) -> float:
    """A database holding ``jobs`` queued CHECK jobs, as an orchestrator left it; seconds."""
    began = time.perf_counter()
    Store(db).close()  # herd's schema
    with sqlite3.connect(db) as connection:
        connection.executemany(
            "INSERT INTO jobs (url, ad_id, site_id, state, submitted) VALUES (?, ?, ?, 'queued', ?)",
            ((f"http://127.0.0.1:9/page/{i}.html", "BENCH_AD", f"S{i % 1000}", 1.0e9 + i)
             for i in range(jobs)))
    return time.perf_counter() - began


def scale_once(jobs: int, n: int, window: int) -> dict:
    """An orchestrator started on a database of ``jobs`` queued jobs: time until it answers
    STATUS, its RSS then, ingest (1 and ``window`` in flight), its RSS after."""
    with tempfile.TemporaryDirectory(prefix="herd-bench-scale-") as tmp:
        db = Path(tmp) / "scale.sqlite"
        fill_s = fill_database(db, jobs) if jobs else 0.0
        with ProcessGroup(Path(tmp)) as group:
            port = free_port(socket.SOCK_DGRAM)
            began = time.perf_counter()
            start_orchestrator(group, port, "--db", str(db), "--max-queue", "10000000")
            serving_s = time.perf_counter() - began
            process = psutil.Process(group.processes["orchestrator"].pid)
            rss_start = process.memory_info().rss
            queued = parse_status(ask(LOOPBACK, port, b"STATUS", 5.0)).queued
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect((LOOPBACK, port))
                request_reply(sock, min(200, n), 2.0, 30)  # warm-up
                rr = request_reply(sock, n, 2.0, 120)
                pl = pipelined(sock, n, window, 1.0, 120)
            rss_end = process.memory_info().rss
    return {"jobs": jobs, "fill_seconds": fill_s, "serving_seconds": serving_s,
            "queued_seen": queued, "rss_mb_start": rss_start / 2**20,
            "rss_mb_end": rss_end / 2**20, "request_reply": rr["acks_per_s"],
            "pipelined": pl["acks_per_s"], "lost": rr["lost"] + pl["lost"]}


def bench_scale(jobs: int, n: int, window: int) -> dict:
    """Part 3: empty queue, then ``jobs`` queued, then empty again (noise check)."""
    runs = []
    for count in (0, jobs, 0):
        print(f"part 3: orchestrator on {count:,} queued jobs ...", file=sys.stderr, flush=True)
        runs.append(scale_once(count, n, window))
    empty = {mode: statistics.mean(r[mode] for r in (runs[0], runs[2]))
             for mode in ("request_reply", "pipelined")}
    full = runs[1]
    return {"runs": runs, "ratio_request_reply": full["request_reply"] / empty["request_reply"],
            "ratio_pipelined": full["pipelined"] / empty["pipelined"]}


def pool_progress(pool: ScanPool) -> tuple[int, list[int]]:
    """Jobs queued, and jobs done by each worker (every STATUS page)."""
    first = parse_status(pool.ask(b"STATUS", 2.0))
    workers = list(first.workers)
    for page in range(2, min(first.pages, 100) + 1):
        workers += parse_status(pool.ask(b"STATUS %d" % page, 2.0)).workers
    return first.queued, [w.jobs_done for w in workers]


def bench_e2e(workers: int, m: int, max_wait: float, keep: Path | None) -> dict:
    """Part 2: a fresh pool of ``workers`` workers scans ``m`` demo pages."""
    with tempfile.TemporaryDirectory(prefix=f"herd-bench-e2e{workers}-") as tmp:
        try:
            with ProcessGroup(Path(tmp) / "processes") as group:
                pool = start_scan_pool(group, Path(tmp), workers)
                time.sleep(0.5)  # let the start-up settle
                pages = pool.pages
                start = time.perf_counter()
                for i in range(m):
                    page = pages[i % len(pages)]
                    message = f"CHECK {page.url(pool.base_url)} {page.ad_id} {page.site_id}"
                    reply = pool.ask(message.encode("ascii"), 5.0)
                    if not reply.startswith(b"200 OK"):
                        raise RuntimeError(f"CHECK refused: {reply!r}")
                sent_s = time.perf_counter() - start
                per_worker: list[int] = []

                def all_done() -> bool:
                    nonlocal per_worker
                    try:
                        queued, per_worker = pool_progress(pool)
                    except (NoAnswer, ProtocolError):  # busy or lost: ask again next time
                        return False
                    return queued == 0 and sum(per_worker) >= m

                try:
                    wait_for(all_done, max_wait, f"{m} jobs done", every=0.02)
                    complete = True
                except TimeoutError:
                    complete = False
                elapsed = time.perf_counter() - start
                outcomes = job_results(group.logs / "orchestrator.sqlite")
                tracebacks = sum(
                    log.read_text(errors="replace").count("Traceback")
                    for log in pool.logs.glob("*/_worker.log"))
        finally:
            if keep:
                shutil.copytree(tmp, keep / f"e2e-{workers}", dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("site"))
    return {"workers": workers, "jobs": m, "complete": complete, "done": sum(per_worker),
            "per_worker": per_worker, "send_seconds": sent_s, "seconds": elapsed,
            "pages_per_s": sum(per_worker) / elapsed, "yes": outcomes.count("YES"),
            "no": outcomes.count("NO"), "error": outcomes.count("ERROR"),
            "worker_log_tracebacks": tracebacks}


def table(results: dict) -> str:
    """The results as Markdown, with the machine and the command."""
    m = results["machine"]
    rows = [
        f"Machine: {m['nproc']} CPUs, load average {m['loadavg']} at start, Python {m['python']}, "
        f"Twisted {m['twisted']}, {m['platform']}",
        f"Command: `{results['command']}` (total {results['total_seconds']:.0f} s)",
        "",
    ]
    if "ingest" in results:
        ingest = results["ingest"]
        rows += [
            f"CHECK ingest: {ingest['checks']} CHECKs per mode, median of {ingest['rounds']} "
            "interleaved rounds (all rounds in brackets), one blocking Python client",
            "",
            "| Server | 1 in flight, acks/s | p50 / p99 ms | "
            f"{ingest['window']} in flight, acks/s | lost / bad |",
            "|---|---|---|---|---|",
        ]
        for kind, r in ingest["servers"].items():
            rr, pl = r["request_reply"], r["pipelined"]
            rows.append(
                f"| {kind} | {rr['acks_per_s']:,.0f} {rr['all']} | {rr['p50_ms']:.3f} / "
                f"{rr['p99_ms']:.3f} | {pl['acks_per_s']:,.0f} {pl['all']} | "
                f"{rr['lost'] + pl['lost']} / {rr['bad'] + pl['bad']} |")
        rows += ["", "| Ratio | Measured | Target (issue 11) |", "|---|---|---|"]
        for r in results["ratios"]:
            target = "-" if r["target"] is None else (
                f"≥ {r['target']:g}× ({'met' if r['met'] else 'NOT met'})")
            rows.append(f"| {r['what']} | {r['ratio']:.2f}× | {target} |")
        rows.append("")
    if "scale" in results:
        scale = results["scale"]
        rows += ["Scale: an orchestrator restarted on a database of N queued jobs "
                 "(ingest as in part 1, one round)", "",
                 "| Queued jobs | restart to serving, s | RSS at start / after, MB | "
                 "1 in flight, acks/s | 32 in flight, acks/s |", "|---|---|---|---|---|"]
        for r in scale["runs"]:
            rows.append(f"| {r['jobs']:,} (STATUS: {r['queued_seen']:,}) | {r['serving_seconds']:.2f} | "
                        f"{r['rss_mb_start']:.0f} / {r['rss_mb_end']:.0f} | "
                        f"{r['request_reply']:,.0f} | {r['pipelined']:,.0f} |")
        rows += ["", f"Ingest with the jobs queued / with an empty queue (mean of the two empty "
                 f"runs): 1 in flight {scale['ratio_request_reply']:.2f}×, window "
                 f"{scale['ratio_pipelined']:.2f}× (target: within 20%, ≥ 0.8×); RSS target "
                 "< 300 MB; restart target < 5 s.", ""]
    if results["e2e"]:
        rows += ["| Benchmark | Setting | Result | Details |", "|---|---|---|---|"]
    for r in results["e2e"]:
        state = "" if r["complete"] else f" INCOMPLETE ({r['done']}/{r['jobs']})"
        rows.append(
            f"| End-to-end scan | {r['workers']} worker(s), {r['jobs']} jobs | "
            f"{r['pages_per_s']:.2f} pages/s{state} | {r['seconds']:.1f} s; YES {r['yes']}, "
            f"NO {r['no']}, ERROR {r['error']}; per worker {r['per_worker']}; "
            f"worker log tracebacks {r['worker_log_tracebacks']} |")
    return "\n".join(rows)


def interrupted(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM: unwind (ProcessGroup stops everything), ignoring further ones."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=1000 CHECKs, M=30 jobs per pool")
    parser.add_argument("--checks", type=int, help="N, CHECKs for part 1 (default 5000)")
    parser.add_argument("--jobs", type=int, help="M, jobs per pool for part 2 (default 500)")
    parser.add_argument("--workers", default="1,2,5", help="pool sizes (default 1,2,5)")
    parser.add_argument("--window", type=int, default=32, help="pipelined window (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of part 1 "
                        "(default 3; the median is reported)")
    parser.add_argument("--no-ingest", action="store_true", help="skip part 1")
    parser.add_argument("--scale", action="store_true", help="part 3: restart on 1,000,000 "
                        "queued jobs (--scale-jobs), RSS, ingest vs an empty queue")
    parser.add_argument("--scale-jobs", type=int, default=1_000_000)
    parser.add_argument("--max-wait", type=float, default=300, help="seconds to wait per pool run")
    parser.add_argument("--json", type=Path, help="also save the results to this JSON file")
    parser.add_argument("--keep", type=Path, help="copy the process and worker logs here")
    args = parser.parse_args()
    n, m = (1000, 30) if args.quick else (5000, 500)
    n, m = args.checks or n, args.jobs or m
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupted)
    began = time.perf_counter()
    machine = {"nproc": os.cpu_count(), "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
               "python": platform.python_version(), "twisted": twisted.__version__,
               "platform": platform.platform()}
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    results: dict = {"command": command, "machine": machine}
    if not args.no_ingest:
        results["ingest"] = bench_ingest(n, args.window, args.rounds)
        results["ratios"] = ingest_ratios(results["ingest"])
    if args.scale:
        results["scale"] = bench_scale(args.scale_jobs, n, args.window)
    results["e2e"] = []
    for count in (int(w) for w in args.workers.split(",") if w):
        print(f"part 2: {m} jobs with {count} worker(s) ...", file=sys.stderr, flush=True)
        results["e2e"].append(bench_e2e(count, m, args.max_wait, args.keep))
    results["total_seconds"] = time.perf_counter() - began
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        sys.exit(130)
