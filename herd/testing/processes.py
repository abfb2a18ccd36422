"""Real processes on loopback, for end-to-end tests, benchmarks and the demo.

``ProcessGroup`` starts commands with their output in files, and stops every one of them
(SIGTERM, then SIGKILL) when its ``with`` block ends, failing or not. Every wait is
bounded: ``wait_for`` gives up after its timeout with a message that says what it waited
for. ``command(name)`` finds herd's console scripts where herd is installed (beside
``sys.executable``), never in a checkout's ``bin/``, so all this works from a wheel too.
(Commands that users run, such as ``places-up``, use ``herd.core.launcher`` instead.)
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from importlib.metadata import entry_points
from typing import Callable, Mapping, Optional, Sequence, TypeVar

from herd.core.launcher import tcp_port_free


T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def command(name: str, python: str = sys.executable) -> list[str]:
    """How to run herd's console script ``name`` (``launch-workers``...) with ``python``'s herd.

    The script installed beside ``python`` when there is one; otherwise its entry point,
    called through ``python -c``.
    """
    beside = Path(python).with_name(name)
    if beside.exists():
        return [str(beside)]
    found = entry_points(group="console_scripts", name=name)
    if not found:
        raise LookupError(f"herd has no console script {name!r}")
    entry = next(iter(found))
    module, _, attr = entry.value.partition(":")
    return [python, "-c", f"import sys; from {module} import {attr}; sys.exit({attr}())"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port that is free right now (TCP by default, ``SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def free_port_run(count: int, low: int = 54000, high: int = 54150, spread: bool = True) -> int:
    """The first port of ``count`` consecutive free TCP ports in ``low``-``high``.

    With ``spread`` the search starts at a random place in the range (then wraps around),
    so test runs sharing the machine seldom pick the same ports at the same time;
    without it, the lowest free run.
    """
    last_start = high - count + 1
    if last_start < low:
        raise RuntimeError(f"no {count} consecutive free ports in {low}-{high}")
    first = random.randint(low, last_start) if spread else low
    for start in [*range(first, last_start + 1), *range(low, first)]:
        if all(tcp_port_free(LOOPBACK, port) for port in range(start, start + count)):
            return start
    raise RuntimeError(f"no {count} consecutive free ports in {low}-{high}")



def wait_for(check: Callable[[], Optional[T]], timeout: float, what: str, every: float = 0.1) -> T:
    """Call ``check`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(every)


def tcp_accepts(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on ``host``:``port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class ProcessGroup:
    """Processes started for one test or benchmark, all stopped when the block ends."""

    def __init__(self, logs: Path) -> None:
        self.logs = Path(logs)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._output_starts: dict[str, int] = {}

    def start(self, name: str, argv: Sequence[str], cwd: Optional[Path] = None,
              env: Optional[Mapping[str, str]] = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group, output appended to ``<logs>/<name>.out``."""
        with open(self.logs / f"{name}.out", "ab") as out:
            self._output_starts[name] = out.tell()
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def output(self, name: str) -> str:
        """What the latest process started as ``name`` has printed so far."""
        with open(self.logs / f"{name}.out", "rb") as out:
            out.seek(self._output_starts.get(name, 0))
            return out.read().decode(errors="replace")

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 10.0) -> int:
        """Send ``sig`` to ``name``; SIGKILL its whole process group after ``grace`` seconds.

        Only the process itself gets ``sig`` (a launcher stops its own children); whatever
        is left in its process group once it has exited is killed.
        """
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        _signal_group(process, signal.SIGKILL)
        return process.returncode

    def stop_all(self) -> None:
        """Stop every process still here, newest first.

        SIGINT and SIGTERM are held back meanwhile (and delivered afterwards), so a second
        Ctrl-C, or a signal sent to the whole process group, cannot cut the cleanup short.
        """
        held = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            for name in reversed(list(self.processes)):
                self.stop(name)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)

    def __enter__(self) -> "ProcessGroup":
        return self

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        trace: Optional[TracebackType],
    ) -> None:
        self.stop_all()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
