"""``bin/launch-workers --interactive``: ADD, REDUCE, STATUS, QUIT on its stdin, real processes.

Every process is stopped when its test ends, failing or not: the orchestrator through its
ProcessGroup, the launcher and the workers it printed by ``Launcher.kill``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.checkout import BIN
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, free_port_run, tcp_accepts, wait_for
from herd.scan.cli.launch import Fleet, parse_args
from herd.scan.cli.pool_status import fetch_status
from herd.testing.scan import start_orchestrator


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


class Launcher:
    """``bin/launch-workers`` with a pipe on stdin, its output (stderr too) gathered in lines."""

    def __init__(self, orch_port: int, start: int, count: int, logs: Path, *options: str,
                 stdin: int = subprocess.PIPE) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(BIN / "launch-workers"), LOOPBACK, str(orch_port), LOOPBACK, str(start), str(count),
             "--interface", LOOPBACK, "--logs", str(logs), "--wait", "20", *options],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def send(self, line: str) -> int:
        """Type ``line``; return how many output lines came before it."""
        assert self.process.stdin is not None
        mark = len(self.lines)
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return mark

    def expect(self, pattern: str, since: int = 0, timeout: float = 30) -> re.Match[str]:
        """The first output line after ``since`` that ``pattern`` matches, waiting for it."""
        def found() -> re.Match[str] | None:
            if self.process.poll() is not None and not self._matching(pattern, since):
                raise AssertionError(f"launcher exited {self.process.returncode}:\n" + self.text())
            return self._matching(pattern, since)
        try:
            return wait_for(found, timeout, f"a line matching {pattern!r}")
        except TimeoutError as error:
            raise AssertionError(f"{error}; the launcher said:\n{self.text()}") from None

    def _matching(self, pattern: str, since: int) -> re.Match[str] | None:
        return next((m for line in self.lines[since:] if (m := re.search(pattern, line))), None)

    def text(self) -> str:
        return "\n".join(self.lines)

    def pids(self) -> dict[str, int]:
        """Every worker the launcher said it started: identifier -> pid."""
        return {m[1]: int(m[2]) for line in self.lines if (m := re.match(r"started (\S+) \(pid (\d+)\)", line))}

    def kill(self) -> None:
        """Make sure neither the launcher nor any worker it started is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.pids().values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def orch_port(tmp_path: Path) -> Iterator[int]:
    port = free_port(socket.SOCK_DGRAM)
    with ProcessGroup(tmp_path / "processes") as group:
        start_orchestrator(group, port)
        yield port


def registered(orch_port: int) -> set[str]:
    return {w.worker_id for w in fetch_status(LOOPBACK, orch_port, 5.0)[1] if w.state != "unreachable"}


@pytest.mark.e2e
def test_add_reduce_status_quit(orch_port: int, tmp_path: Path) -> None:
    start = free_port_run(4)  # one spare: REDUCE, then nothing may listen on the fourth
    ports = [start, start + 1, start + 2]
    ids = [f"worker-{p}" for p in ports]
    launcher = Launcher(orch_port, start, 1, tmp_path / "logs", "--interactive")
    try:
        launcher.expect(r"all 1 worker\(s\) registered")
        mark = launcher.send("  add 2 ")
        launcher.expect(rf"registered: {ids[1]}, {ids[2]}$", mark)
        wait_for(lambda: registered(orch_port) == set(ids), 20, "the orchestrator to list 3 workers")
        assert all(tcp_accepts(p) for p in ports)
        pids = launcher.pids()
        assert sorted(pids) == ids

        mark = launcher.send("REDUCE")
        launcher.expect(rf"^stopped {ids[2]}$", mark)
        wait_for(lambda: not alive(pids[ids[2]]), 10, "the stopped worker to be gone")
        assert not tcp_accepts(ports[2])
        assert tcp_accepts(ports[0]) and tcp_accepts(ports[1])
        assert alive(pids[ids[0]]) and alive(pids[ids[1]])

        mark = launcher.send("Status")
        launcher.expect(r"^launcher: 2 worker\(s\) running, at most 5$", mark)
        for port, wid in zip(ports[:2], ids):  # the launcher's row, then the orchestrator's
            launcher.expect(rf"^{wid}\s+{port}\s+{pids[wid]}\s+alive\s+\S+{wid}$", mark)
            launcher.expect(rf"^{wid}\s+{LOOPBACK}\s+{port}\s+idle\b", mark)
        assert not launcher._matching(rf"^{ids[2]}\s", mark)

        mark = launcher.send("BOGUS 3")
        launcher.expect(r"^error: unknown command 'BOGUS 3'", mark)
        mark = launcher.send("HELP")
        launcher.expect(r"^\s+REDUCE \[n\]", mark)
        assert launcher.process.poll() is None

        launcher.send("QUIT")
        assert launcher.process.wait(30) == 0
        assert not any(alive(pid) for pid in pids.values())
        assert not any(tcp_accepts(p) for p in ports)
        assert re.search(rf"stopped {ids[1]}\nstopped {ids[0]}$", launcher.text())
    finally:
        launcher.kill()


@pytest.mark.e2e
def test_add_beyond_the_max_is_refused(orch_port: int, tmp_path: Path) -> None:
    start = free_port_run(3)
    launcher = Launcher(orch_port, start, 1, tmp_path / "logs", "--interactive", "--max", "2")
    try:
        launcher.expect(r"all 1 worker\(s\) registered")
        mark = launcher.send("ADD 2")
        launcher.expect(r"^error: ADD 2 refused: 1 running, at most 2 \(--max\)$", mark)
        mark = launcher.send("ADD 0")
        launcher.expect(r"^error: ADD takes a positive whole number, not '0'$", mark)
        mark = launcher.send("ADD")
        launcher.expect(rf"^registered: worker-{start + 1}$", mark)
        mark = launcher.send("add")
        launcher.expect(r"^error: ADD 1 refused: 2 running, at most 2 \(--max\)$", mark)
        pids = launcher.pids()
        assert len(pids) == 2
        launcher.process.stdin.close()  # end of input, as Ctrl-D: QUIT
        assert launcher.process.wait(30) == 0
        assert not any(alive(pid) for pid in pids.values())
    finally:
        launcher.kill()


@pytest.mark.e2e
def test_dead_worker_reported_once_and_the_others_go_on(orch_port: int, tmp_path: Path) -> None:
    start = free_port_run(2)
    launcher = Launcher(orch_port, start, 2, tmp_path / "logs", "--interactive")
    try:
        launcher.expect(r"all 2 worker\(s\) registered")
        pids = launcher.pids()
        os.kill(pids[f"worker-{start}"], signal.SIGKILL)
        launcher.expect(rf"^worker worker-{start} exited with status -9:$")
        mark = launcher.send("STATUS")
        launcher.expect(rf"^worker-{start}\s+{start}\s+{pids[f'worker-{start}']}\s+exited\(-9\)", mark)
        launcher.expect(r"^launcher: 1 worker\(s\) running", mark)
        assert tcp_accepts(start + 1)
        launcher.send("QUIT")
        assert launcher.process.wait(30) == 0
        assert sum("exited with status" in line for line in launcher.lines) == 1
    finally:
        launcher.kill()


@pytest.mark.e2e
def test_without_a_terminal_end_of_input_does_not_stop_it(orch_port: int, tmp_path: Path) -> None:
    """``< /dev/null`` and no flag: the old mode, which runs until a signal."""
    start = free_port_run(1)
    launcher = Launcher(orch_port, start, 1, tmp_path / "logs", stdin=subprocess.DEVNULL)
    try:
        launcher.expect(r"all 1 worker\(s\) registered; Ctrl-C stops them")
        with pytest.raises(subprocess.TimeoutExpired):
            launcher.process.wait(2)
        assert "HELP" not in launcher.text()
        launcher.process.send_signal(signal.SIGHUP)
        assert launcher.process.wait(30) == 0
        assert not any(alive(pid) for pid in launcher.pids().values())
        launcher.expect(r"^SIGHUP: stopping the workers$")
    finally:
        launcher.kill()


@pytest.mark.e2e
def test_interactive_stops_at_end_of_input(orch_port: int, tmp_path: Path) -> None:
    start = free_port_run(1)
    launcher = Launcher(orch_port, start, 1, tmp_path / "logs", "--interactive", stdin=subprocess.DEVNULL)
    try:
        assert launcher.process.wait(30) == 0
        launcher.expect(r"^end of input: stopping the workers$")
        launcher.expect(rf"^stopped worker-{start}$")
        assert not any(alive(pid) for pid in launcher.pids().values())
    finally:
        launcher.kill()


@pytest.mark.e2e
def test_busy_port(orch_port: int, tmp_path: Path) -> None:
    """A worker that cannot listen: the old mode exits 1, the interactive one goes on."""
    start = free_port_run(2)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port may be in TIME_WAIT
        busy.bind((LOOPBACK, start))
        busy.listen()
        launcher = Launcher(orch_port, start, 1, tmp_path / "old", "--no-input", stdin=subprocess.DEVNULL)
        try:
            assert launcher.process.wait(30) == 1
            launcher.expect(rf"^error: worker-{start} exited while starting")
            launcher.expect(r"Address already in use")
        finally:
            launcher.kill()
        launcher = Launcher(orch_port, start, 1, tmp_path / "new", "--interactive")
        try:
            launcher.expect(rf"^error: worker-{start} exited while starting")
            mark = launcher.send("ADD")  # the next free port above the busy one
            launcher.expect(rf"^registered: worker-{start + 1}$", mark)
            launcher.send("QUIT")
            assert launcher.process.wait(30) == 0
        finally:
            launcher.kill()


@pytest.mark.e2e
def test_secret_and_concurrency_reach_the_workers(tmp_path: Path) -> None:
    """With the orchestrator's secret in ``--secret-file``, ADDed workers register too."""
    secret = tmp_path / "secret"
    secret.write_text("a shared secret long enough for anyone 0123456789\n")
    port = free_port(socket.SOCK_DGRAM)
    with ProcessGroup(tmp_path / "processes") as group:
        start_orchestrator(group, port, "--secret-file", str(secret))
        start = free_port_run(2)
        launcher = Launcher(port, start, 1, tmp_path / "logs", "--interactive",
                            "--concurrency", "2", "--secret-file", str(secret))
        try:
            launcher.expect(r"all 1 worker\(s\) registered")
            mark = launcher.send("ADD")
            launcher.expect(rf"^registered: worker-{start + 1}$", mark)
            assert registered(port) == {f"worker-{start}", f"worker-{start + 1}"}
            launcher.send("QUIT")
            assert launcher.process.wait(30) == 0
        finally:
            launcher.kill()


def test_worker_options_go_before_the_arguments(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    args = parse_args([LOOPBACK, "54000", LOOPBACK, "54001", "2", "--no-input",
                       "--concurrency", "4", "--secret-file", str(secret)])
    command = Fleet(args).command(54001, "worker-54001", tmp_path / "w")
    tail = command[command.index("worker") + 1:]
    assert tail == ["--concurrency", "4", "--secret-file", str(secret.resolve()),
                    "54001", str(tmp_path / "w"), LOOPBACK, LOOPBACK, "54000", "worker-54001"]
    assert args.interactive is False


def test_command_line_checks() -> None:
    for bad in (["0", "--no-input"], ["6"], ["3", "--max", "2"], ["1", "--concurrency", "0"],
                ["1", "--secret-file", "/nonexistent/secret"], ["1", "--interactive", "--no-input"]):
        with pytest.raises(SystemExit):
            parse_args([LOOPBACK, "54000", LOOPBACK, "54001", *bad])
    assert parse_args([LOOPBACK, "54000", LOOPBACK, "54001", "0", "--interactive"]).count == 0
