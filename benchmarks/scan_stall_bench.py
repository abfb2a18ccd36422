"""The worker's worst reactor stall while it scans pages holding five 2 MB images.

In one process: a ``twisted.web`` static site (a page with the ad string and five distinct
2 MB images per scan), the worker's real ``PageScanner`` (treq, the worker's HTTP pool,
its ImageStore in a temp LOGDIR) and a probe: a ``LoopingCall`` every 1 ms recording how
late each tick is. The worst lateness is the longest the reactor was blocked (fetching,
hashing, writing, logging), measured with the web server sharing the reactor, so it is an
upper bound. Issue 11's target: at most 10 ms.

A late tick is not always the reactor's own work: on a 2-core machine the reactor thread
also waits for a CPU (the web server, the hashing threads) or for the GIL. So the probe
also records the CPU time the reactor thread itself used between two ticks
(``time.thread_time``): ``worst_reactor_cpu_ms`` is the longest the worker's own code held
the reactor, ``worst_stall_ms`` the longest any tick was late, whatever the cause.

    .venv/bin/python benchmarks/scan_stall_bench.py            # 10 pages, 50 images
    .venv/bin/python benchmarks/scan_stall_bench.py --pages 3 --dedup
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from twisted.internet import defer, reactor, task
from twisted.internet.threads import deferToThreadPool
from twisted.web.server import Site
from twisted.web.static import File

from herd.core.launcher import twistd_command
from herd.protocols.scan import CheckRequest
from herd.protocols.scan_replies import Found
from herd.scan.worker.scanner import FetchLimits, PageScanner
from herd.scan.worker.tap import worker_http_client
from herd.testing.processes import free_port, tcp_accepts, wait_for

AD = "STALL_BENCH_AD"


def make_site(site: Path, pages: int, size: int) -> None:
    """``p<i>.html`` each with five images of ``size`` random bytes of their own."""
    (site / "img").mkdir(parents=True)
    for i in range(pages):
        tags = []
        for k in range(5):
            (site / "img" / f"p{i}-{k}.png").write_bytes(os.urandom(size))
            tags.append(f'<img src="/img/p{i}-{k}.png">')
        (site / f"p{i}.html").write_text(f"<html><body>{AD} {''.join(tags)}</body></html>")


async def run(pages: int, size: int, dedup: bool, on_reactor: bool, external: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="herd-stall-") as name:
        tmp = Path(name)
        make_site(tmp / "site", pages, size)
        server = None
        if external:  # the web server in a process of its own: only the worker's stalls
            number = free_port()
            server = subprocess.Popen(
                [*twistd_command(), "-n", "--pidfile=", "--logfile=/dev/null", "web", "--path",
                 str(tmp / "site"), "--listen", f"tcp:{number}:interface=127.0.0.1"])
            wait_for(lambda: tcp_accepts(number), 20, "twistd web")
            port = None
        else:
            site = Site(File(str(tmp / "site")))
            site.noisy = False
            port = reactor.listenTCP(0, site, interface="127.0.0.1")
            number = port.getHost().port
        base = f"http://127.0.0.1:{number}"
        in_thread = None if on_reactor else partial(deferToThreadPool, reactor,
                                                    reactor.getThreadPool())
        scanner = PageScanner(worker_http_client(reactor, 15.0, 9), reactor, tmp / "logs",
                              FetchLimits(image_bytes=16 * 1024 * 1024), dedup=dedup,
                              in_thread=in_thread)
        stalls: list[float] = []
        busy: list[float] = []  # CPU the reactor thread itself used between two ticks
        last = [time.perf_counter(), time.thread_time()]

        def tick() -> None:
            now, cpu = time.perf_counter(), time.thread_time()
            stalls.append(now - last[0] - 0.001)
            busy.append(cpu - last[1])
            last[0], last[1] = now, cpu

        probe = task.LoopingCall(tick)
        probe.start(0.001)
        await task.deferLater(reactor, 1.0, lambda: None)  # the probe alone: the machine's noise
        idle = sorted(stalls)
        stalls.clear()
        busy.clear()
        began = time.perf_counter()
        found = 0
        for i in range(pages):
            result = await scanner.scan(CheckRequest(f"{base}/p{i}.html", AD, f"S{i}"))
            found += isinstance(result, Found)
        seconds = time.perf_counter() - began
        probe.stop()
        if port is not None:
            await port.stopListening()
        if server is not None:
            server.terminate()
            server.wait(10)
        saved = sum(1 for p in (tmp / "logs").rglob("*.png"))
    stalls.sort()
    busy.sort()
    return {"images": "on the reactor thread" if on_reactor else "hashed and written in threads",
            "pages": pages, "found": found, "images_saved": saved, "seconds": seconds,
            "worst_stall_ms": stalls[-1] * 1e3, "idle_worst_stall_ms": idle[-1] * 1e3,
            "idle_p99_stall_ms": idle[int(len(idle) * 0.99)] * 1e3, "p99_stall_ms": stalls[int(len(stalls) * 0.99)] * 1e3,
            "worst_reactor_cpu_ms": busy[-1] * 1e3, "p99_reactor_cpu_ms": busy[int(len(busy) * 0.99)] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--size", type=int, default=2 * 1024 * 1024, help="bytes per image")
    parser.add_argument("--dedup", action="store_true", help="de-duplication on (default off: "
                        "every image distinct anyway)")
    parser.add_argument("--on-reactor", action="store_true", help="hash and write images on "
                        "the reactor thread, as before issue 11 (to compare)")
    parser.add_argument("--external-server", action="store_true", help="serve the pages from "
                        "a twistd web process instead of this reactor")
    args = parser.parse_args()
    outcome: dict = {}

    async def go() -> None:
        outcome.update(await run(args.pages, args.size, args.dedup, args.on_reactor,
                                 args.external_server))

    d = defer.Deferred.fromCoroutine(go())
    d.addErrback(lambda f: (f.printTraceback(), outcome.update(error=True)))
    d.addBoth(lambda _: reactor.stop())
    reactor.run()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {outcome}")
    sys.exit(1 if outcome.get("error") else 0)


if __name__ == "__main__":
    main()
