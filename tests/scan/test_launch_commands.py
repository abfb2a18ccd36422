"""launch-workers' commands on a fake reactor: no process is started, no socket opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import defer

from herd.core.launcher import Launcher
from herd.scan.cli.fleet import Fleet
from herd.scan.cli.launch import HELP, command, parse_args
from tests.core.test_launcher import FakeProcessReactor

LOOPBACK = "127.0.0.1"


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    args = parse_args([LOOPBACK, "54000", LOOPBACK, "54001", "0", "--interactive", "--max", "2",
                       "--logs", str(tmp_path / "logs")])
    reactor = FakeProcessReactor()
    launcher = Launcher(reactor, tmp_path / "logs", die_with_launcher=False)
    launcher.startService()
    fleet = Fleet(args, launcher)
    launcher.on_exit = fleet.exited
    return fleet


def run(fleet: Fleet, line: str) -> bool:
    d = defer.Deferred.fromCoroutine(command(fleet, line))
    assert d.called, "the command waited on something"
    return d.result


def test_refusals_and_help(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(fleet, "ADD 0") and run(fleet, "add x") and run(fleet, "REDUCE") and run(fleet, "bogus 3")
    assert run(fleet, "ADD 3") and run(fleet, "help") and run(fleet, "   ")
    assert not run(fleet, "quit")
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == [
        "error: ADD takes a positive whole number, not '0'",
        "error: ADD takes a positive whole number, not 'x'",
        "error: REDUCE: no worker is running",
        "error: unknown command 'bogus 3'; HELP lists the commands",
        "error: ADD 3 refused: 0 running, at most 2 (--max)",
    ]
    assert "\n".join(out[5:]) == HELP


def test_reduce_stops_the_newest_and_a_death_is_reported_once(
        fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    reactor = fleet.reactor
    first, second = fleet.start(54001), fleet.start(54002)
    assert fleet.running() == [first, second]
    assert fleet.command(54001, first, Path("/x"))[-6:] == ["54001", "/x", LOOPBACK, LOOPBACK, "54000", first]
    d = defer.Deferred.fromCoroutine(command(fleet, "REDUCE"))
    assert reactor.spawned[1].signals == ["TERM"] and not reactor.spawned[0].signals
    reactor.spawned[1].exit(None, 15)
    assert d.result is True
    reactor.spawned[0].exit(None, 9)  # died on its own
    captured = capsys.readouterr()
    assert "stopped worker-54002" in captured.out
    assert captured.err.count("worker worker-54001 exited with status -9:") == 1
    assert "worker-54002 exited" not in captured.err
    assert fleet.running() == [] and fleet.dead == {first}
