"""Topology files: peer ports, and how ``server.py NAME`` finds its herd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herd.places.cli.server import main
from herd.places.topology import (
    DEFAULT,
    ENVIRONMENT,
    PEER_OFFSET,
    TopologyError,
    find_topology,
    load_topology,
    parse_topology,
)
from herd.testing.places import GRADER_HERDS


def write(path: Path, servers: dict, links: list | None = None, **extra: object) -> Path:
    path.write_text(json.dumps({"servers": servers, "links": links or [], **extra}))
    return path


def test_peer_port_defaults_to_port_plus_offset_and_can_be_given() -> None:
    herd = parse_topology({"servers": {"A": 9991, "B": {"port": 9992, "peer_port": 20000}}})
    assert herd.servers["A"].peer == 9991 + PEER_OFFSET == 10991
    assert herd.servers["B"].peer == 20000
    assert parse_topology({"peer_offset": 7, "servers": {"A": 100}}).servers["A"].peer == 107


@pytest.mark.parametrize("raw, why", [
    ({"servers": {"A": 100, "B": 1100}}, "used twice"),
    ({"servers": {"A": {"port": 100, "peer_port": 100}}}, "used twice"),
    ({"servers": {"A": 65000}}, "no valid peer port"),
    ({"peer_offset": "x", "servers": {"A": 1}}, "peer_offset"),
])
def test_bad_peer_ports_are_refused(raw: dict, why: str) -> None:
    with pytest.raises(TopologyError, match=why):
        parse_topology(raw)


def test_the_graders_herds_ship_as_examples() -> None:
    juzang, hill = load_topology(GRADER_HERDS["juzang"]), load_topology(GRADER_HERDS["hill"])
    assert {n: a.port for n, a in juzang.servers.items()} == {
        "Juzang": 9991, "Bernard": 9992, "Jaquez": 9993, "Johnson": 9994, "Clark": 9995}
    assert juzang.neighbours("Juzang") == ["Bernard", "Clark", "Johnson"]
    assert juzang.neighbours("Jaquez") == ["Bernard", "Clark"]
    assert sorted(a.port for a in hill.servers.values()) == [8000, 8001, 8002, 8003, 8004]
    assert hill.neighbours("Singleton") == ["Campbell", "Jaquez", "Smith"]


def test_working_directory_then_environment_then_packaged(tmp_path: Path) -> None:
    here = write(tmp_path / "topology.json", {"Alpha": 5001})
    other = write(tmp_path / "other.json", {"Beta": 5002})
    env = {ENVIRONMENT: str(other)}
    assert find_topology("Alpha", tmp_path, env)[0] == here
    assert find_topology("Beta", tmp_path, env)[0] == other  # not in ./topology.json
    assert find_topology("Goloman", tmp_path, env)[0] == DEFAULT
    with pytest.raises(TopologyError):
        find_topology("Alpha", tmp_path / "nowhere", {})  # no ./topology.json there
    with pytest.raises(TopologyError) as refused:
        find_topology("Nobody", tmp_path, env)
    message = str(refused.value)
    assert "unknown server 'Nobody'" in message
    assert all(name in message for name in ("Alpha", "Beta", "Goloman", "Wilkes"))


def test_a_broken_topology_in_the_way_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "topology.json").write_text("{not json")
    with pytest.raises(TopologyError, match="not valid JSON"):
        find_topology("Goloman", tmp_path, {})


def test_server_py_refuses_an_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    assert main(["Juzang"]) == 2
    error = capsys.readouterr().err
    assert "unknown server 'Juzang'" in error and "Goloman, Hands, Holiday, Welsh, Wilkes" in error
    assert main([]) == 2 and main(["--help"]) == 0
    assert main(["Goloman", "--idle-timeout", "-1"]) == 2
