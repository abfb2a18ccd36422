"""herd's scan pool against Celery+Redis and Scrapy, on the same job, one after the other.

The job (issue 11): ``/p/<i>.html`` from a local nginx, a page holding the ad string and
two images; fetch it, search it, save its images. JOBS pages (1,000), each system in turn:

* herd: ``twistd orchestrator`` + ``launch-workers`` (5 workers, ``--concurrency`` from
  ``--herd-concurrency``, each value a run), CHECKs sent over UDP, done when STATUS shows
  every job done;
* Celery 5 + Redis: prefork pool, 5 processes, a ``requests`` session per process, results
  in Redis; done when every result is in;
* Scrapy: one process, ``CONCURRENT_REQUESTS`` 32 (per domain too).

Each is checked to have saved both images of every page (a hard link of herd's
de-duplication counts: the file is there, whole). pages/s = JOBS / (first job sent -> last
done). Start-up is not timed. The anchors run in their own virtual environment
(``--anchors``, default /tmp/herd-scan-anchors, created with celery, redis, requests and
scrapy from PyPI when missing); nginx and redis-server are Debian's, installed with
apt-get when missing and running as root, otherwise the script says why it skips.

    .venv/bin/python benchmarks/scan_vs_anchors.py                 # 1,000 jobs
    .venv/bin/python benchmarks/scan_vs_anchors.py --jobs 200 --herd-concurrency 4

Figures on the shared 2-core machine are noisy: run it twice and compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from herd.protocols.scan import MAX_REPLY
from herd.protocols.scan_replies import parse_status
from herd.scan.cli.udp_client import NoAnswer
from herd.testing.processes import LOOPBACK, ProcessGroup, command, free_port, free_port_run, \
    tcp_accepts, wait_for
from herd.testing.scan import start_orchestrator

HERE = Path(__file__).resolve().parent
JOBS_SCRIPT = HERE / "scan_anchors_jobs.py"
AD = "HERD-BENCH-AD-7731"
ANCHOR_PACKAGES = ["celery[redis]>=5,<6", "redis", "requests", "scrapy"]
NGINX_CONF = """worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body; proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fcgi; uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    types {{ text/html html; image/png png; }}
    server {{
        listen 127.0.0.1:{port};
        root {site};
        location /p/ {{ try_files /page.html =404; }}
    }}
}}
"""


def tools(anchors: Path) -> tuple[Optional[str], str, str]:
    """A reason to skip, or None; and the paths of nginx and redis-server."""
    def find() -> tuple[Optional[str], Optional[str]]:
        return (shutil.which("nginx") or shutil.which("/usr/sbin/nginx"),
                shutil.which("redis-server") or shutil.which("/usr/bin/redis-server"))

    nginx, redis = find()
    if not (nginx and redis):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            return "nginx and redis-server are needed (apt-get install nginx-light redis-server)", "", ""
        print("installing nginx-light and redis-server with apt-get ...", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light", "redis-server"],
                       env=env, check=False)
        nginx, redis = find()
        if not (nginx and redis):
            return "could not install nginx and redis-server with apt-get", "", ""
    python = anchors / "bin" / "python"
    probe = [str(python), "-c", "import celery, redis, requests, scrapy"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode:
        print(f"creating the anchors' virtual environment in {anchors} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(anchors)], check=True)
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", *ANCHOR_PACKAGES])
        if pip.returncode or subprocess.run(probe, capture_output=True).returncode:
            return f"could not install {', '.join(ANCHOR_PACKAGES)} into {anchors}", "", ""
    return None, nginx, redis


def make_site(site: Path) -> None:
    """The page (ad string, two images, some text) and its two PNG images."""
    from PIL import Image

    (site / "img").mkdir(parents=True)
    rng = random.Random(11)
    for name in ("a.png", "b.png"):
        image = Image.frombytes("RGB", (96, 96), bytes(rng.randrange(256) for _ in range(96 * 96 * 3)))
        image.save(site / "img" / name)
    text = " ".join(f"lorem{rng.randrange(10_000)}" for _ in range(600))
    (site / "page.html").write_text(
        f"<!doctype html><html><head><title>bench</title></head><body><p>{text}</p>"
        f"<div class=ad>{AD}</div><img src=\"/img/a.png\" alt=a><p>{text}</p>"
        f"<img src='/img/b.png' alt=b></body></html>\n")


def saved_pages(site: Path, root: Path, jobs: int, pattern: str = "S{i}") -> int:
    """How many jobs saved both of the site's images, whole, in their folder
    (``root``/``pattern``; herd's is ``<worker-id>/S<i>/<scan folder>``)."""
    sizes = {p.name: p.stat().st_size for p in (site / "img").glob("*.png")}
    assert len(sizes) == 2, sizes
    complete = 0
    for i in range(jobs):
        found = {p.name.split("-", 1)[-1]: p.stat().st_size
                 for folder in root.glob(pattern.format(i=i)) for p in folder.rglob("*.png")}
        complete += found == sizes
    return complete


def run_herd(tmp: Path, base: str, jobs: int, workers: int, concurrency: int) -> dict:
    """A fresh orchestrator and ``workers`` workers; JOBS CHECKs; until all are done."""
    out = tmp / f"herd-c{concurrency}"
    logs = out / "herd"
    with ProcessGroup(out / "processes") as group:
        port = free_port(socket.SOCK_DGRAM)
        start_orchestrator(group, port, "--max-queue", str(jobs * 2))
        start = free_port_run(workers, 54000)
        group.start("launch-workers", [
            *command("launch-workers"), LOOPBACK, str(port), LOOPBACK, str(start), str(workers),
            "--interface", LOOPBACK, "--logs", str(logs), "--concurrency", str(concurrency),
            "--no-input"])
        wait_for(lambda: "registered; Ctrl-C" in group.output("launch-workers"), 60,
                 "launch-workers to report every worker registered")
        time.sleep(0.5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((LOOPBACK, port))
            sock.settimeout(5)
            began = time.perf_counter()
            for i in range(jobs):
                sock.send(f"CHECK {base}/p/{i}.html {AD} S{i}".encode())
                if not sock.recv(MAX_REPLY * 4).startswith(b"200 OK"):
                    raise RuntimeError("a CHECK was refused")

            def done() -> bool:
                sock.send(b"STATUS")
                try:
                    status = parse_status(sock.recv(MAX_REPLY * 4))
                except (socket.timeout, NoAnswer):
                    return False
                return status.queued == 0 and sum(w.jobs_done for w in status.workers) >= jobs

            wait_for(done, 600, f"{jobs} herd jobs done", every=0.02)
            seconds = time.perf_counter() - began
        db = sqlite3.connect(group.logs / "orchestrator.sqlite")
        counts = dict(db.execute("SELECT result, COUNT(*) FROM jobs GROUP BY result").fetchall())
        db.close()
    return {"system": f"herd, {workers} workers, --concurrency {concurrency}",
            "seconds": seconds, "yes": counts.get("yes", 0), "no": counts.get("no", 0),
            "saved": saved_pages(tmp / "site", logs, jobs, "*/S{i}")}


def run_anchor(argv: list[str], what: str, out: Path, jobs: int, broker: str = "") -> dict:
    """Run ``scan_anchors_jobs.py`` in the anchors' venv; its JSON line, checked."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=HERE,
                          env={**os.environ, "HERD_BENCH_BROKER": broker})
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise RuntimeError(f"{what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return {"system": what, **json.loads(lines[-1]),
            "saved": saved_pages(out.parent / "site", out, jobs)}


def run_celery(group: ProcessGroup, tmp: Path, anchors: Path, redis: str, base: str,
               jobs: int, processes: int) -> dict:
    """redis-server and a prefork Celery worker of ``processes`` processes."""
    port = free_port()
    group.start("redis", [redis, "--port", str(port), "--bind", LOOPBACK, "--save", "",
                          "--appendonly", "no", "--dir", str(tmp)])
    wait_for(lambda: tcp_accepts(port), 20, "redis-server")
    broker = f"redis://{LOOPBACK}:{port}/0"
    group.start("celery", [str(anchors / "bin" / "celery"), "-A", "scan_anchors_jobs", "worker",
                           "--pool", "prefork", "--concurrency", str(processes),
                           "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                           "--without-heartbeat"],
                cwd=HERE, env={**os.environ, "HERD_BENCH_BROKER": broker})
    out = tmp / "celery"
    result = run_anchor([str(anchors / "bin" / "python"), str(JOBS_SCRIPT), "celery", broker,
                         base, AD, str(jobs), str(out)],
                        f"Celery+Redis, prefork, {processes} processes", out, jobs, broker)
    group.stop("celery")
    group.stop("redis")
    return result


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM: unwind like Ctrl-C (every ProcessGroup stops its processes)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="pages per system (default 1000)")
    parser.add_argument("--workers", type=int, default=5, help="herd workers / Celery processes")
    parser.add_argument("--herd-concurrency", default="1,4",
                        help="herd workers' --concurrency, a run for each (default 1,4)")
    parser.add_argument("--scrapy-concurrent", type=int, default=32,
                        help="Scrapy's CONCURRENT_REQUESTS (default 32)")
    parser.add_argument("--only", default="herd,celery,scrapy", help="systems to run")
    parser.add_argument("--anchors", type=Path, default=Path("/tmp/herd-scan-anchors"),
                        help="the anchors' virtual environment")
    parser.add_argument("--json", type=Path, help="also save the results here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    skip, nginx, redis = tools(args.anchors)
    if skip:
        print(f"SKIPPED: {skip}")
        return 0
    only = set(args.only.split(","))
    machine = (f"{os.cpu_count()} CPUs, load average "
               f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at start, "
               f"Python {platform.python_version()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="herd-vs-anchors-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # nginx's workers run as www-data
        make_site(tmp / "site")
        with ProcessGroup(tmp / "processes") as group:
            port = free_port()
            (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port, site=tmp / "site"))
            group.start("nginx", [nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)])
            wait_for(lambda: tcp_accepts(port), 20, "nginx")
            base = f"http://{LOOPBACK}:{port}"
            if "herd" in only:
                for concurrency in (int(c) for c in args.herd_concurrency.split(",")):
                    print(f"herd, --concurrency {concurrency} ...", file=sys.stderr, flush=True)
                    results.append(run_herd(tmp, base, args.jobs, args.workers, concurrency))
            if "celery" in only:
                print("Celery+Redis ...", file=sys.stderr, flush=True)
                results.append(run_celery(group, tmp, args.anchors, redis, base, args.jobs,
                                          args.workers))
            if "scrapy" in only:
                print("Scrapy ...", file=sys.stderr, flush=True)
                out = tmp / "scrapy"
                results.append(run_anchor(
                    [str(args.anchors / "bin" / "python"), str(JOBS_SCRIPT), "scrapy", base, AD,
                     str(args.jobs), str(out), str(args.scrapy_concurrent)],
                    f"Scrapy, CONCURRENT_REQUESTS {args.scrapy_concurrent}", out, args.jobs))
    for r in results:
        r["pages_per_s"] = args.jobs / r["seconds"]
    print(f"Machine: {machine}")
    print(f"Command: `{shlex.join([os.path.relpath(sys.executable), *sys.argv])}`\n")
    print("| System | pages/s | seconds | YES / NO | pages with both images saved |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['system']} | {r['pages_per_s']:.0f} | {r['seconds']:.2f} | "
              f"{r['yes']} / {r['no']} | {r['saved']}/{args.jobs} |")
    herd = [r for r in results if r["system"].startswith("herd")]
    if herd:
        best = max(herd, key=lambda r: r["pages_per_s"])
        print(f"\nherd's best ({best['system']}):")
        for r in results:
            if not r["system"].startswith("herd"):
                target = {"C": 1.5, "S": 3.0}[r["system"][0]]
                ratio = best["pages_per_s"] / r["pages_per_s"]
                print(f"- {ratio:.2f}× {r['system']} (target ≥ {target:g}×: "
                      f"{'met' if ratio >= target else 'NOT met'})")
    incomplete = [r["system"] for r in results if r["saved"] != args.jobs]
    if incomplete:
        print(f"\nWARNING: not every image saved by: {', '.join(incomplete)}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    return 1 if incomplete else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        sys.exit(130)
