"""herd as a user installs it: a wheel, in a fresh virtual environment, outside the checkout.

The wheel is built from a copy of the packaged files (so the checkout gets no ``build/``),
installed with ``--no-deps`` into a new virtual environment in a temporary directory whose
dependencies come from this one's site-packages through a ``.pth`` line (no download;
that directory's own ``.pth`` files, the editable install among them, are not read, so
herd itself can only come from the wheel). Every command then runs from another temporary
directory, without ``PYTHONPATH``: each console script and each twistd plugin answers
``--help``, a scan pool (orchestrator, one worker through ``launch-workers``) answers a
``client-v2`` CHECK of a local page, and ``places-up`` runs a herd that answers an IAMAT and
a WHATSAT.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Iterator

import pytest

from herd.core.launcher import twistd_command
from herd.testing.places import talk, write_topology
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, free_port_run, tcp_accepts, wait_for
from tests.checkout import REPO

PACKAGED = ("herd", "twisted", "setup.cfg", "pyproject.toml", "README.md")
PAGE = b"<html><body><p>Buy the GOLDENDOME now</p><img src='a.png'></body></html>"


class Installed:
    """The fresh environment: its bin directory, and how to run things there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.work = root / "elsewhere"  # the working directory of every command
        self.work.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.env["PATH"] = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        self.group = ProcessGroup(root / "processes")

    def command(self, name: str) -> list[str]:
        """``name`` as installed here; twistd is this Python's (Twisted is not in this venv)."""
        if name == "twistd":
            return twistd_command(str(self.bin / "python"))
        return [str(self.bin / name)]

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.command(argv[0]), *argv[1:]], cwd=self.work, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def start(self, name: str, *argv: str) -> None:
        self.group.start(name, [*self.command(argv[0]), *argv[1:]], cwd=self.work, env=self.env)


def _dependency_dirs() -> list[str]:
    """Where this Python finds herd's dependencies: its site directories (never the checkout,
    which an editable install puts on ``sys.path`` through a ``.pth`` file of its own)."""
    dirs = [sysconfig.get_paths()["purelib"], *(p for p in sys.path if "-packages" in Path(p).name)]
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir() and Path(d).resolve() != REPO]


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
                   check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    for name in PACKAGED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dropin.cache"))
        else:
            shutil.copy(REPO / name, source / name)
    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(root / "dist"), str(source))
    [wheel] = (root / "dist").glob("herd-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=60)
    python = root / "venv" / "bin" / "python"
    site = Path(subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "herd-test-dependencies.pth").write_text("".join(f"{path}\n" for path in _dependency_dirs()))
    _pip("--python", str(python), "install", "--no-deps", "--no-index", str(wheel))
    env = Installed(root)
    with env.group:
        yield env


@pytest.mark.e2e
def test_herd_comes_from_the_wheel(installed: Installed) -> None:
    done = installed.run("python", "-c", "import herd, twisted.plugins.herd_places_server as p; "
                                         "print(herd.__file__); print(p.__file__)")
    assert done.returncode == 0, done.stderr
    for line in done.stdout.split():
        assert Path(line).is_relative_to(installed.root / "venv"), done.stdout
    package = Path(done.stdout.split()[0]).parent
    data = [f.relative_to(REPO / "herd") for f in (REPO / "herd").rglob("*")
            if f.is_file() and f.suffix not in (".py", ".pyc") and "__pycache__" not in f.parts]
    assert data, "herd has package data (topology.json, the dashboard's page)"
    missing = [str(f) for f in data if not (package / f).is_file()]
    assert not missing, f"package data left out of the wheel (setup.cfg [options.package_data]): {missing}"


@pytest.mark.e2e
def test_every_command_answers_help(installed: Installed) -> None:
    listing = installed.run("python", "-c", "from importlib.metadata import entry_points; "
                                            "print(*sorted(e.name for e in entry_points(group='console_scripts') "
                                            "if e.value.startswith('herd.')))")
    scripts = listing.stdout.split()
    assert {"client-v2", "launch-workers", "places-up", "places-server"} <= set(scripts), listing
    for script in scripts:
        done = installed.run(script, "--help")
        assert done.returncode == 0 and "usage" in done.stdout.lower(), (script, done.stdout, done.stderr)
    plugins = installed.run("python", "-c", "from twisted.plugin import getPlugins; "
                                            "from twisted.application.service import IServiceMaker; "
                                            "print(*sorted(p.tapname for p in getPlugins(IServiceMaker) "
                                            "if p.module.startswith('herd.')))")
    taps = plugins.stdout.split()
    assert {"orchestrator", "worker", "places"} <= set(taps), plugins
    for tap in taps:
        done = installed.run("twistd", tap, "--help")
        assert done.returncode == 0 and "Usage: twistd" in done.stdout, (tap, done.stdout, done.stderr)


@pytest.mark.e2e
def test_a_scan_round_trip(installed: Installed) -> None:
    site = installed.root / "site"
    site.mkdir()
    (site / "page.html").write_bytes(PAGE)
    (site / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    web, orch = free_port(), free_port(socket.SOCK_DGRAM)
    installed.start("web", "twistd", "-n", "--pidfile=", "web", "--path", str(site),
                    "--listen", f"tcp:{web}:interface={LOOPBACK}")
    installed.start("orchestrator", "twistd", "-n", "--pidfile=", "orchestrator", "--port", str(orch),
                    "--interface", LOOPBACK, "--db", str(installed.root / "orch.sqlite"))
    start = free_port_run(1)
    installed.start("launch-workers", "launch-workers", LOOPBACK, str(orch), LOOPBACK, str(start), "1",
                    "--interface", LOOPBACK, "--no-input")
    wait_for(lambda: "registered; Ctrl-C" in installed.group.output("launch-workers")
             or installed.group.processes["launch-workers"].poll(), 40, "the worker to register")
    assert tcp_accepts(web), installed.group.output("web")
    url = f"http://{LOOPBACK}:{web}/page.html"
    done = installed.run("client-v2", url, "GOLDENDOME", "WheelSite", "--port", str(orch))
    assert done.returncode == 0 and "200 OK" in done.stdout, (done.stdout, done.stderr)

    def hit() -> bool:
        listed = installed.run("check-hits", LOOPBACK, str(orch))
        return "WheelSite" in listed.stdout

    wait_for(hit, 20, "the hit")
    [folder] = (installed.work / "logs" / f"worker-{start}" / "WheelSite").iterdir()
    assert (folder / "a.png").read_bytes().startswith(b"\x89PNG")
    installed.group.stop("launch-workers")
    assert re.search(rf"^stopped worker-{start}$", installed.group.output("launch-workers"), re.M)


@pytest.mark.e2e
def test_places_up_iamat_whatsat(installed: Installed) -> None:
    topology = installed.root / "topology.json"
    ports = write_topology(topology, ["Alpha", "Beta"], [["Alpha", "Beta"]])
    installed.start("places-up", "places-up", "--topology", str(topology), "--logs", "herd-logs")
    wait_for(lambda: "the herd is up" in installed.group.output("places-up")
             or installed.group.processes["places-up"].poll() is not None, 40, "places-up")
    assert "the herd is up" in installed.group.output("places-up"), installed.group.output("places-up")
    at = talk(ports["Alpha"], b"IAMAT kiwi +34.068930-118.445127 1520023934.918963997\n")
    assert at.startswith(b"AT Alpha "), at

    def answered() -> bytes | None:
        reply = talk(ports["Beta"], b"WHATSAT kiwi 10 2\n")
        return reply if reply.startswith(b"AT Alpha") else None

    reply = wait_for(answered, 20, "the location to reach Beta")
    answer = json.loads(reply.split(b"\n", 1)[1])
    assert answer["status"] in ("OK", "ZERO_RESULTS") and len(answer["results"]) <= 2
    assert (installed.work / "herd-logs" / "Alpha.log").exists()
    assert installed.group.stop("places-up", signal.SIGTERM) == 0
    assert "SIGTERM: the herd is stopped" in installed.group.output("places-up")
