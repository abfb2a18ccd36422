"""Faults, with real processes: killed workers, a killed orchestrator, a flood of CHECKs,
a worker with the wrong secret. Nothing acknowledged may be lost or done twice."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from herd.core.launcher import twistd_command as twistd
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, free_port_run, wait_for
from tests.checkout import BIN
from herd.protocols.scan_replies import parse_status
from herd.scan.cli.udp_client import ask
from herd.testing.scan import start_orchestrator, start_web, start_workers

pytestmark = pytest.mark.e2e


def job_states(db: Path) -> Counter[str]:
    """How many jobs are in each state, read from the orchestrator's database."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return Counter(dict(connection.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")))


def done_once(db: Path) -> tuple[int, int]:
    """(jobs done, distinct job ids done): equal when nothing was recorded twice."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM jobs WHERE state='done'").fetchone()


def worker_pids(group: ProcessGroup) -> dict[str, int]:
    found = re.findall(r"started (\S+) \(pid (\d+)\)", group.output("launch-workers"))
    return {worker_id: int(pid) for worker_id, pid in found}


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ProcessGroup]:
    with ProcessGroup(tmp_path / "processes") as processes:
        yield processes


def send_checks(port: int, lines: list[bytes]) -> list[int]:
    """Send each CHECK, wait for its ``200 OK <id>``; the job ids."""
    ids = []
    for line in lines:
        reply = ask(LOOPBACK, port, line, 5.0)
        assert reply.startswith(b"200 OK "), reply
        ids.append(int(reply.split()[2]))
    return ids


def test_killed_worker_loses_no_job_and_none_runs_twice(group: ProcessGroup, tmp_path: Path) -> None:
    base, site, pages = start_web(group, tmp_path)
    orch = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch, "--heartbeat-timeout", "3")
    start_workers(group, orch, 2, tmp_path / "logs")
    big = next(p for p in pages if p.page == "big-absolute.html")
    lines = [f"CHECK {big.url(base)} {big.ad_id} K{i}".encode() for i in range(40)]
    ids = send_checks(orch, lines)
    victim = sorted(worker_pids(group))[0]
    os.kill(worker_pids(group)[victim], signal.SIGKILL)
    db = group.logs / "orchestrator.sqlite"
    wait_for(lambda: job_states(db)["done"] == 40, 90, "all 40 jobs done by the survivor")
    assert done_once(db) == (40, 40)
    assert sorted(ids) == list(range(1, 41))
    states = {w.worker_id: w.state for w in parse_status(ask(LOOPBACK, orch, b"STATUS", 5)).workers}
    wait_for(lambda: {w.worker_id: w.state for w in parse_status(ask(LOOPBACK, orch, b"STATUS", 5)).workers}[victim] == "dead",
             10, "the killed worker to be marked dead")
    assert len(states) == 2
    folders = [p for p in (tmp_path / "logs").glob("*/K*/*") if p.is_dir()]
    assert len({p.parent.name for p in folders}) == 40  # every site scanned


def test_killed_orchestrator_restarts_and_finishes_every_acknowledged_job(group: ProcessGroup, tmp_path: Path) -> None:
    base, site, pages = start_web(group, tmp_path)
    orch = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch)
    start_workers(group, orch, 2, tmp_path / "logs")
    page = next(p for p in pages if p.page == "ad-comment.html")
    ids = send_checks(orch, [f"CHECK {page.url(base)} {page.ad_id} R{i}".encode() for i in range(100)])
    group.stop("orchestrator", signal.SIGKILL)
    db = group.logs / "orchestrator.sqlite"
    unfinished = 100 - job_states(db)["done"]
    started = time.monotonic()
    start_orchestrator(group, orch)
    wait_for(lambda: job_states(db)["done"] == 100, 90, "all 100 acknowledged jobs done after the restart")
    recovery = time.monotonic() - started
    assert done_once(db) == (100, 100) and len(set(ids)) == 100
    hits = ask(LOOPBACK, orch, b"HITS 5", 5)
    assert hits.startswith(b"200 HITS 5\n")
    shown = subprocess.run([str(BIN / "job-status"), LOOPBACK, str(orch), str(ids[0])],
                           capture_output=True, text=True, timeout=30)
    assert re.fullmatch(r"1 done worker-\d+ YES R0 \S+\n", shown.stdout), shown
    print(f"{unfinished} jobs were unfinished at the kill; all done {recovery:.2f} s after the restart")


def test_dead_letters_are_visible(group: ProcessGroup, tmp_path: Path) -> None:
    orch = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch, "--max-attempts", "1", "--connect-timeout", "1")
    ask(LOOPBACK, orch, b"REGISTER 127.0.0.1 %d ghost" % free_port(), 5)  # nothing listens there
    [job] = send_checks(orch, [b"CHECK http://127.0.0.1:9/x.html AD S1"])
    wait_for(lambda: ask(LOOPBACK, orch, b"JOB %d" % job, 5).startswith(b"200 JOB %d dead" % job), 20,
             "the job to be given up")
    shown = subprocess.run([str(BIN / "dead-letters"), LOOPBACK, str(orch)], capture_output=True,
                           text=True, timeout=30)
    assert shown.stdout.startswith(f"job {job} S1 AD attempts 1 "), shown
    assert "no worker answered after 1 attempts" in shown.stdout


def test_ten_thousand_checks_and_status_throughout(group: ProcessGroup, tmp_path: Path) -> None:
    base, site, pages = start_web(group, tmp_path)
    orch = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch, "--max-queue", "20000")
    start_workers(group, orch, 3, tmp_path / "logs")
    page = next(p for p in pages if p.page == "no-ad.html")  # a quick NO, no images
    line = f"CHECK {page.url(base)} {page.ad_id} F1".encode()
    status_replies: list[bool] = []
    stop = threading.Event()

    def poll_status() -> None:
        while not stop.is_set():
            try:
                status_replies.append(ask(LOOPBACK, orch, b"STATUS", 2.0).startswith(b"200 STATUS"))
            except Exception:
                status_replies.append(False)
            time.sleep(0.05)

    poller = threading.Thread(target=poll_status)
    poller.start()
    acked = 0
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.connect((LOOPBACK, orch))
            for _ in range(10_000):
                sock.send(line)
                acked += sock.recv(1024).startswith(b"200 OK")
        db = group.logs / "orchestrator.sqlite"
        wait_for(lambda: job_states(db)["done"] >= acked, 240, "every acknowledged job done", every=1)
    finally:
        stop.set()
        poller.join(10)
    assert acked == 10_000
    assert done_once(db) == (acked, acked)
    assert len(status_replies) > 10 and all(status_replies)


def test_wrong_secret_is_refused_right_one_runs_jobs(group: ProcessGroup, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("the-right-secret\n")
    (tmp_path / "wrong").write_text("not-the-secret\n")
    base, site, pages = start_web(group, tmp_path)
    orch = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch, "--secret-file", str(tmp_path / "secret"))
    port = free_port_run(2)
    for name, secret, p in (("intruder", "wrong", port), ("good", "secret", port + 1)):
        group.start(name, [*twistd(), "-n", "--pidfile=", "worker", "--interface", LOOPBACK,
                           "--secret-file", str(tmp_path / secret), str(p), str(tmp_path / name),
                           LOOPBACK, LOOPBACK, str(orch), name])
    wait_for(lambda: [w.worker_id for w in parse_status(ask(LOOPBACK, orch, b"STATUS", 5)).workers] == ["good"],
             20, "the worker with the right secret to register")
    wait_for(lambda: "bad token" in group.output("orchestrator"), 10, "the intruder's REGISTER refused")
    time.sleep(2)
    assert [w.worker_id for w in parse_status(ask(LOOPBACK, orch, b"STATUS", 5)).workers] == ["good"]
    page = next(p for p in pages if p.page == "ad-comment.html")
    [job] = send_checks(orch, [f"CHECK {page.url(base)} {page.ad_id} S1".encode()])
    wait_for(lambda: ask(LOOPBACK, orch, b"JOB %d" % job, 5).startswith(b"200 JOB %d done good YES S1" % job),
             20, "the job done by the good worker")
    with socket.create_connection((LOOPBACK, port + 1), timeout=10) as sock:  # nobody else drives it
        sock.sendall(f"CHECK {page.url(base)} {page.ad_id} S2\n".encode())
        assert sock.recv(1024) == b"403 ERROR token missing\n"
    assert subprocess.run([str(BIN / "check-hits"), LOOPBACK, str(orch)], capture_output=True,
                          text=True, timeout=30).stdout.startswith("good S1 IRISH_CSE")


def test_random_datagrams_never_stop_the_live_orchestrator(group: ProcessGroup) -> None:
    """2,000 random datagrams (bytes, and mangled valid requests): one reply each, no crash."""
    import random

    rng = random.Random(20261124)
    orch = free_port(socket.SOCK_DGRAM)
    start_orchestrator(group, orch)
    nobody = free_port()  # registered workers point at a port where nothing listens
    valid = [b"CHECK http://127.0.0.1:9/x.html AD S1", b"REGISTER 127.0.0.1 %d w1" % nobody,
             b"HEARTBEAT w1 running=0", b"STATUS 1", b"HITS 3", b"JOB 1", b"DEAD 2"]

    def mangled() -> bytes:
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data) + 1)
            action = rng.random()
            if action < 0.4:
                data[position:position] = bytes([rng.randrange(256)])
            elif action < 0.7 and position < len(data):
                del data[position]
            else:
                data[position:position] = rng.choice([b" ", b"\r\n", b"=", b"token=", b"\x00", b"9" * 30])
        return bytes(data)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect((LOOPBACK, orch))
        for i in range(2000):
            datagram = os.urandom(rng.randrange(0, 1600)) if i % 2 else mangled()
            sock.send(datagram)
            reply = sock.recv(4096)
            assert len(reply) <= 1024 and reply.endswith(b"\n"), (datagram, reply)
            assert reply[:4] in (b"200 ", b"400 ", b"403 ", b"404 ", b"503 "), (datagram, reply)
    assert "Traceback" not in group.output("orchestrator")
    assert ask(LOOPBACK, orch, b"STATUS", 5).startswith(b"200 STATUS")
