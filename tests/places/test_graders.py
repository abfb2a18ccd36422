"""End to end, as the course's graders run a herd, unmodified, in their two herds.

The graders start each server with ``nohup python3 server.py NAME &``, 0.5 s apart, send
the first IAMAT 0.5 s after the last start, stop a server with ``lsof -ti:PORT | xargs
kill`` and ask every question once, on its own connection (written, half-closed, the
whole reply read). Their ports are fixed (9991-9995 and 8000-8004, peer ports 1000
higher): a herd whose ports are busy on this machine is skipped, saying which.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

from herd.core.launcher import tcp_port_free
from herd.places.topology import load_topology
from herd.testing.places import GRADER_HERDS, NohupHerd, lsof_pids, talk
from herd.testing.processes import LOOPBACK
from tests.checkout import BIN

pytestmark = pytest.mark.e2e

GAP = 0.5  # the graders' pause between two starts, and before the first IAMAT
FLOOD = 1.0  # how long a grader waits between an IAMAT and the WHATSATs that need it

# Per herd: the two servers killed, where the last IAMAT goes, a server that must learn it
# and one cut off from it (its neighbours are the two killed) that must still answer.
SCENARIOS = {
    "juzang": {"kill": ["Juzang", "Bernard"], "iamat": "Clark", "learns": "Jaquez", "cut_off": "Johnson"},
    "hill": {"kill": ["Singleton", "Smith"], "iamat": "Hill", "learns": "Jaquez", "cut_off": "Campbell"},
}
INVALID = [b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127", b"HELLO world",
           b"IAMAT kiwi.cs.ucla.edu 34.068930-118.445127 1520023934.918963997",
           b"WHATSAT kiwi.cs.ucla.edu 51 5", b"WHATSAT kiwi.cs.ucla.edu 10 21",
           b"WHATSAT nobody.cs.ucla.edu 10 5", b"WHATSAT kiwi.cs.ucla.edu ten 5", b""]


@pytest.fixture(params=sorted(SCENARIOS))
def graders(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, NohupHerd]]:
    """The herd, its file found as the graders' servers find it: ``juzang`` from
    ``./topology.json``, ``hill`` from ``$HERD_PLACES_TOPOLOGY``."""
    which = request.param
    herd = load_topology(GRADER_HERDS[which])
    busy = [port for a in herd.servers.values() for port in (a.port, a.peer) if not tcp_port_free(LOOPBACK, port)]
    if busy:
        pytest.skip(f"the graders' {which} herd needs ports {busy} of 127.0.0.1, busy here")
    if shutil.which("lsof") is None:
        pytest.skip("no lsof (`make test` installs it where apt-get runs as root)")
    env = None
    if which == "juzang":
        shutil.copy(GRADER_HERDS[which], tmp_path / "topology.json")
    else:
        env = dict(os.environ, HERD_PLACES_TOPOLOGY=str(GRADER_HERDS[which]))
    with NohupHerd(tmp_path, BIN / "server.py", env) as nohup:
        yield which, nohup


def whatsat_line(port: int, client: bytes) -> bytes:
    """The first line of a WHATSAT's reply (checking the JSON that follows an AT line)."""
    reply = talk(port, b"WHATSAT " + client + b" 10 5\n")
    first, _, body = reply.partition(b"\n")
    if first.startswith(b"AT "):
        assert reply.endswith(b"\n\n") and json.loads(body)["status"] in ("OK", "ZERO_RESULTS")
    return first


def test_graders_flows(graders: tuple[str, NohupHerd]) -> None:
    which, nohup = graders
    herd = load_topology(GRADER_HERDS[which])
    names = list(herd.servers)  # in the file's order, as the graders list them
    port = {name: herd.servers[name].port for name in names}
    scenario = SCENARIOS[which]

    for name in names:
        nohup.start(name)
        time.sleep(GAP)

    # Flooding: the first IAMAT, to the first server, reaches every other one.
    kiwi = f"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {time.time():.9f}".encode()
    at_kiwi = talk(port[names[0]], kiwi).rstrip(b"\n")
    assert at_kiwi.startswith(f"AT {names[0]} +".encode()) and at_kiwi.endswith(kiwi[6:])
    time.sleep(FLOOD)
    for name in names:
        assert whatsat_line(port[name], b"kiwi.cs.ucla.edu") == at_kiwi, name

    # Invalid commands: "? " and the command.
    for i, line in enumerate(INVALID[:-1]):
        assert talk(port[names[i % len(names)]], line + b"\n") == b"? " + line + b"\n"

    # Two servers stopped the graders' way, each right after a flood passed through it:
    # lsof finds that server alone (its neighbours' links use its peer port).
    for victim in scenario["kill"]:
        talk(port[scenario["iamat"]], f"IAMAT probe-{victim} +1.0+1.0 {time.time():.9f}".encode())
        assert lsof_pids(port[victim]) == {nohup.pids[victim]}
        nohup.kill(port[victim])
    deadline = time.monotonic() + 10
    while any(nohup.alive(v) for v in scenario["kill"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [n for n in names if nohup.alive(n)] == [n for n in names if n not in scenario["kill"]]

    # The rest answer with the right AT line.
    phone = f"IAMAT phone.cs.ucla.edu -33.8688+151.2093 {time.time():.9f}".encode()
    at_phone = talk(port[scenario["iamat"]], phone).rstrip(b"\n")
    assert at_phone.startswith(f"AT {scenario['iamat']} ".encode())
    time.sleep(FLOOD)
    assert whatsat_line(port[scenario["learns"]], b"phone.cs.ucla.edu") == at_phone
    assert whatsat_line(port[scenario["cut_off"]], b"kiwi.cs.ucla.edu") == at_kiwi
    assert talk(port[scenario["cut_off"]], b"WHATSAT phone.cs.ucla.edu 10 5") == b"? WHATSAT phone.cs.ucla.edu 10 5\n"
    assert (nohup.workdir / "logs" / "places" / f"{scenario['iamat']}.log").exists()
