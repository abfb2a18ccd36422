"""End to end: five real places servers (``bin/server.py NAME``) on loopback ports.

Clients behave as the graders' do: one connection per command, the command written
(sometimes without a newline), the write side half-closed, the whole reply read.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, tcp_accepts, wait_for
from tests.checkout import BIN
from herd.testing.places import Herd, links_up, start_herd, talk, traffic, write_topology

pytestmark = pytest.mark.e2e

NAMES = ["Goloman", "Hands", "Holiday", "Welsh", "Wilkes"]
SERVER_PY = [sys.executable, str(BIN / "server.py")]  # the specification's entry point


@pytest.fixture(scope="module")
def herd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Herd]:
    """One herd for the tests that leave it as they found it."""
    workdir = tmp_path_factory.mktemp("herd")
    with ProcessGroup(workdir / "out") as group:
        yield start_herd(group, workdir, server=SERVER_PY)


@pytest.fixture
def own_herd(tmp_path: Path) -> Iterator[Herd]:
    """A herd for a test that kills servers."""
    with ProcessGroup(tmp_path / "out") as group:
        yield start_herd(group, tmp_path, server=SERVER_PY)


def test_location_crosses_three_hops(herd: Herd) -> None:
    reply = talk(herd.ports["Hands"], b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997")
    at_line = reply.rstrip(b"\n")
    fields = at_line.split(b" ")
    assert len(fields) == 6 and fields[:2] == [b"AT", b"Hands"] and reply.endswith(b"\n")
    assert fields[2][:1] == b"+" and b"e" not in fields[2].lower()

    answer = wait_for(lambda: r if not (r := herd.whatsat("Welsh", "kiwi.cs.ucla.edu")).startswith(b"?") else None,
                      10, "Welsh to learn kiwi's location")
    first, body = answer.split(b"\n", 1)
    assert first == at_line  # the stored AT line of the server that got the IAMAT
    assert answer.endswith(b"}\n\n") and b"\n\n\n" not in answer
    places = json.loads(body)
    assert places["status"] in ("OK", "ZERO_RESULTS") and len(places["results"]) <= 3


def test_dead_server_and_its_return(own_herd: Herd) -> None:
    herd = own_herd
    herd.group.stop("Holiday", signal.SIGKILL)
    wait_for(lambda: "Holiday" not in links_up(herd.logs, "Goloman"), 10, "Goloman to see Holiday drop")
    assert any(e["event"] == "peer-down" and e["peer"] == "Holiday" for e in traffic(herd.logs, "Wilkes"))

    talk(herd.ports["Hands"], b"IAMAT phone +10.5-20.25 1700000000.5\n")
    for name in ("Goloman", "Wilkes"):
        wait_for(lambda: herd.whatsat(name, "phone").startswith(b"AT Hands"), 10, f"{name} to learn")
    time.sleep(0.5)  # Welsh's only neighbour is down: it cannot learn
    assert herd.whatsat("Welsh", "phone") == b"? WHATSAT phone 10 3\n"

    herd.start("Holiday")
    wait_for(lambda: "Holiday" in links_up(herd.logs, "Goloman") and "Welsh" in links_up(herd.logs, "Holiday"),
             20, "the links with Holiday to come back")
    wait_for(lambda: herd.whatsat("Welsh", "phone").startswith(b"AT Hands"), 10,
             "Welsh to learn the location through the restarted Holiday")


def test_newest_location_wins_everywhere(herd: Herd) -> None:
    talk(herd.ports["Welsh"], b"IAMAT car +1.0+1.0 200.0")
    talk(herd.ports["Hands"], b"IAMAT car +2.0+2.0 100.0")  # older, sent later
    talk(herd.ports["Wilkes"], b"IAMAT car +3.0+3.0 200.0")  # equal: not newer either
    for name in NAMES:
        wait_for(lambda: herd.whatsat(name, "car").startswith(b"AT Welsh"), 10, f"{name} to learn car")
    time.sleep(0.3)
    assert all(herd.whatsat(name, "car").split(b"\n")[0].endswith(b"+1.0+1.0 200.0") for name in NAMES)


def test_several_commands_on_one_connection(herd: Herd) -> None:
    reply = talk(herd.ports["Goloman"],
                 b"IAMAT a +1+1 1\nIAMAT b\t+2-2   2\r\nWHATSAT a 5 0\nnonsense here\nWHATSAT b 5 1")
    parts = reply.split(b"\n")
    assert parts[0].startswith(b"AT Goloman ") and parts[0].endswith(b" a +1+1 1")
    assert parts[1].startswith(b"AT Goloman ") and parts[1].endswith(b" b +2-2 2")
    assert parts[2] == parts[0]
    assert b"\n? nonsense here\nAT Goloman " in reply
    assert reply.endswith(b"}\n\n")


@pytest.mark.parametrize(
    "line",
    [b"HELLO", b"IAMAT kiwi +34.0-118.0", b"IAMAT kiwi 34.068930-118.445127 1520023934.9",
     b"IAMAT kiwi +91.0+0.0 1", b"IAMAT kiwi +0.0+181.0 1", b"IAMAT kiwi +1+1 soon",
     b"WHATSAT kiwi 51 5", b"WHATSAT kiwi 0 5", b"WHATSAT kiwi 10 21", b"WHATSAT kiwi 10 -1",
     b"WHATSAT kiwi 10 2.5", b"WHATSAT nobody-knows-me 10 5", b"iamat kiwi +1+1 1",
     b"IAMAT \xff\xfe +1+1 x"],
)
def test_invalid_commands(herd: Herd, line: bytes) -> None:
    assert talk(herd.ports["Wilkes"], line) == b"? " + line + b"\n"


def test_unicode_and_invalid_utf8_client_ids(herd: Herd) -> None:
    for client in ("ünïcødé-téléphone".encode(), b"\xff\xfe\xfd", "電話".encode()):
        reply = talk(herd.ports["Holiday"], b"IAMAT " + client + b" +5-5 10")
        assert reply.split(b" ")[3] == client
        wait_for(lambda: talk(herd.ports["Hands"], b"WHATSAT " + client + b" 5 1").startswith(b"AT Holiday"),
                 10, "Hands to learn the client")


def test_google_places_through_a_fake_api(tmp_path: Path) -> None:
    """One server with a key, against a local fake of the Places API."""
    topology = tmp_path / "one.json"
    ports = write_topology(topology, ["Solo"], [])
    api_port = free_port()
    with ProcessGroup(tmp_path / "out") as group:
        group.start("fake-api", [sys.executable, "-m", "herd.testing.fake_places", str(api_port)])
        wait_for(lambda: tcp_accepts(api_port), 20, "the fake Places API")
        herd = Herd(ports, topology, tmp_path / "logs", group)
        herd.start("Solo", "--places-key", "good-key", "--places-url", f"http://{LOOPBACK}:{api_port}")
        talk(ports["Solo"], b"IAMAT kiwi +34.068930-118.445127 1520023934.918963997")
        answer = json.loads(herd.whatsat("Solo", "kiwi", 10, 4).split(b"\n", 1)[1])
        assert answer["status"] == "OK" and len(answer["results"]) == 4
        log = (tmp_path / "out" / "Solo.out").read_text() + (tmp_path / "logs" / "Solo.log").read_text()
        assert "good-key" not in log

        group.stop("Solo")
        herd.start("Solo", "--places-key", "bad-key", "--places-url", f"http://{LOOPBACK}:{api_port}")
        talk(ports["Solo"], b"IAMAT kiwi +34.068930-118.445127 1520023934.918963997")
        denied = json.loads(herd.whatsat("Solo", "kiwi").split(b"\n", 1)[1])
        assert denied["status"] == "REQUEST_DENIED" and denied["results"] == []
        assert talk(ports["Solo"], b"IAMAT still +1+1 1").startswith(b"AT Solo")
