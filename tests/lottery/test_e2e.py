"""The lottery end to end: ``twistd lottery`` and ``bin/agency`` as real processes on loopback."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from herd.testing.processes import ProcessGroup, free_port, tcp_accepts, wait_for
from tests.checkout import BIN
from herd.protocols.lottery import (
    ClientFrame,
    ClientKind,
    ServerFrameParser,
    ServerKind,
    encode_batch,
    parse_documents,
)
from herd.testing.lottery import (
    COURSE_WINNERS,
    DATASET_ZIP,
    actions,
    ask,
    ask_frame,
    count_lines,
    course_dataset,
    expected_rows,
    rows,
    send_and_close,
    start_agency,
    start_server,
    synthetic_dataset,
)

pytestmark = pytest.mark.e2e
needs_course_data = pytest.mark.skipif(
    not DATASET_ZIP.exists(), reason=f"the course's data set is not at {DATASET_ZIP}")
GOOD = b"Ana,Paz,99999999,2000-02-29,1"
MALFORMED = {
    "oversized": (struct.pack("<BII", 1, 1, 8184) + b"x" * 100, "over the limit"),
    "unknown kind": (struct.pack("<BII", 4, 1, 0), "unknown frame kind 4"),
    "fields": (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,99999999,2000-02-29").encode(), "4 fields"),
    "document": (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,9999x999,2000-02-29,1").encode(), "document"),
    "number": (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,99999999,2000-02-29,uno").encode(), "number"),
    "date": (ClientFrame(ClientKind.POST_BET, 1, b"Ana,Paz,99999999,2001-02-29,1").encode(), "valid date"),
    "agency": (ClientFrame(ClientKind.POST_BET, 6, GOOD).encode(), "agency id 6 outside 1..5"),
    "utf-8": (ClientFrame(ClientKind.POST_BET, 1, b"An\xc3a,Paz,99999999,2000-02-29,1").encode(), "not UTF-8"),
    "batch": (ClientFrame(ClientKind.BET_BATCH, 2, encode_batch([GOOD, b"Eva,Gil,1,1990-01-01,1,1"])).encode(),
              "bet 2 of 2"),
}


def server_frames(data: bytes) -> list:
    return ServerFrameParser().feed(data)


def winners_of(port: int, agency: int) -> Any:
    frame = ask_frame(port, ClientFrame(ClientKind.GET_WINNERS, agency).encode())
    return parse_documents(frame.payload) if frame.kind is ServerKind.BETTING_RESULTS else None


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The course's five agencies at once, malformed frames sent meanwhile by raw sockets."""
    if not DATASET_ZIP.exists():
        pytest.skip(f"the course's data set is not at {DATASET_ZIP}")
    work = tmp_path_factory.mktemp("course")
    files = course_dataset(work)
    port = free_port()
    store = work / "store"
    with ProcessGroup(work / "logs") as group:
        start_server(group, port, store, 5)
        agencies = {i: start_agency(group, i, port, path, "--max-amount", "50") for i, path in files.items()}
        wait_for(lambda: len(rows(store)) > 1000, 30, "the first bets to be stored")
        refused = {name: ask(port, data) for name, (data, _) in MALFORMED.items()}
        send_and_close(port, ClientFrame(ClientKind.BET_BATCH, 1, encode_batch([GOOD])).encode()[:-5])
        still_sending = all(process.poll() is None for process in agencies.values())
        codes = {i: process.wait(90) for i, process in agencies.items()}
        wait_for(lambda: "sorteo" in group.output("server"), 10, "the draw")
        yield {
            "files": files, "store": store, "port": port, "codes": codes, "refused": refused,
            "still_sending": still_sending, "server": group.output("server"),
            "agencies": {i: group.output(f"agency-{i}") for i in files},
            "winners": {i: winners_of(port, i) for i in files},
        }


def test_every_course_bet_is_stored_exactly_once(course: dict) -> None:
    assert course["codes"] == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    stored = Counter(rows(course["store"]))
    expected = Counter(row for i, path in course["files"].items() for row in expected_rows(i, path))
    assert sum(expected.values()) == 78697
    assert stored == expected


def test_each_agency_is_told_its_own_winners_after_one_draw(course: dict) -> None:
    for agency, output in course["agencies"].items():
        [(_, result, fields)] = actions(output, "consulta_ganadores")
        assert result == "success" and int(fields["cant_ganadores"]) == COURSE_WINNERS[agency]
        assert len(course["winners"][agency]) == COURSE_WINNERS[agency]
        assert [a for a, _, _ in actions(output)][-1] == "exit"
    server = actions(course["server"])
    names = [name for name, result, _ in server if result == "success"]
    assert names.count("sorteo") == 1
    assert "apuesta_recibida" not in names[names.index("sorteo"):]
    draw = json.loads((course["store"] / "draw.json").read_text())
    assert {int(a): len(d) for a, d in draw["winners"].items()} == COURSE_WINNERS


def test_malformed_frames_are_refused_while_agencies_go_on(course: dict) -> None:
    assert course["still_sending"]
    for name, (answer, closed) in course["refused"].items():
        assert (answer, closed) == (b"", True), name
    fails = [fields for name, result, fields in actions(course["server"], "apuesta_recibida")
             if result == "fail"]
    for name, (_, says) in MALFORMED.items():
        assert any(says in fields["error"] for fields in fails), name
    assert any("truncated BET_BATCH frame" in fields["error"] for fields in fails)
    assert len(fails) == len(MALFORMED) + 1
    for output in course["agencies"].values():
        assert "result: fail" not in output


def run_agencies(tmp_path: Path, count: int, bets: int, *extra: str) -> None:
    port = free_port()
    store = tmp_path / "store"
    known = {i: synthetic_dataset(tmp_path / f"agency-{i}.csv", bets, i % 4, seed=i) for i in range(1, count + 1)}
    with ProcessGroup(tmp_path / "logs") as group:
        start_server(group, port, store, count)
        processes = {i: start_agency(group, i, port, tmp_path / f"agency-{i}.csv", *extra)
                     for i in known}
        assert {i: p.wait(60) for i, p in processes.items()} == {i: 0 for i in known}
        for i, documents in known.items():
            assert winners_of(port, i) == documents
            [(_, _, fields)] = actions(group.output(f"agency-{i}"), "consulta_ganadores")
            assert int(fields["cant_ganadores"]) == len(documents)
        server = group.output("server")
    assert Counter(rows(store)) == Counter(
        row for i in known for row in expected_rows(i, tmp_path / f"agency-{i}.csv"))
    everything = server + "".join((tmp_path / "logs" / f"agency-{i}.out").read_text() for i in known)
    assert "result: fail" not in everything  # a healthy run
    assert count_lines(server, "action: sorteo") == 1


def test_one_agency_with_known_winners(tmp_path: Path) -> None:
    run_agencies(tmp_path, 1, 500, "--max-amount", "1000")


def test_ten_agencies_with_known_winners(tmp_path: Path) -> None:
    run_agencies(tmp_path, 10, 300, "--max-amount", "7")


def test_kill_9_then_restart_loses_no_acknowledged_bet(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "store"
    data = tmp_path / "agency-1.csv"
    documents = synthetic_dataset(data, 2000, 3, seed=7)
    with ProcessGroup(tmp_path / "logs") as group:
        start_server(group, port, store, 1)
        agency = start_agency(group, 1, port, data, "--max-amount", "4", "--loop-period", "2ms",
                              "--socket-timeout", "20s")
        wait_for(lambda: len(rows(store)) > 400, 30, "bets before the crash")
        group.stop("server", signal.SIGKILL)
        stored_at_crash = len(rows(store))
        start_server(group, port, store, 1, name="server-2")
        assert agency.wait(60) == 0
        assert "result: fail" not in group.output("agency-1")
        assert Counter(rows(store)) == Counter(expected_rows(1, data))
        assert stored_at_crash < 2000
        assert count_lines(group.output("server-2"), "action: sorteo") == 1
        assert winners_of(port, 1) == documents
        group.stop("server-2", signal.SIGKILL)
        start_server(group, port, store, 1, name="server-3")  # after the draw
        assert winners_of(port, 1) == documents
        group.stop("server-3")
        assert "action: sorteo" not in group.output("server-3")


def test_sigterm_ends_server_and_agency_gracefully(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "store"
    data = {i: tmp_path / f"agency-{i}.csv" for i in (1, 2)}
    known = {i: synthetic_dataset(path, 1500, 2, seed=10 + i) for i, path in data.items()}
    slow = ("--max-amount", "10", "--loop-period", "10ms", "--socket-timeout", "20s")
    with ProcessGroup(tmp_path / "logs") as group:
        start_server(group, port, store, 2)
        first = start_agency(group, 1, port, data[1], *slow)
        start_agency(group, 2, port, data[2], *slow)
        wait_for(lambda: len(rows(store)) > 300, 30, "some bets")
        assert group.stop("agency-1", signal.SIGTERM) == 0
        assert first.returncode == 0
        ended = actions(group.output("agency-1"))
        assert ended[-1][:2] == ("exit", "success") and ended[-1][2]["reason"] == "SIGTERM"
        assert group.stop("server", signal.SIGTERM) == 0
        server = actions(group.output("server"))
        assert server[-1][:2] == ("exit", "success")
        start_server(group, port, store, 2, name="server-2")
        again = start_agency(group, 1, port, data[1], "--max-amount", "100", name="agency-1-again")
        assert again.wait(60) == 0
        assert group.processes["agency-2"].wait(60) == 0  # reconnected to the new server
        assert winners_of(port, 1) == known[1] and winners_of(port, 2) == known[2]
        assert Counter(rows(store)) == Counter(
            row for i in data for row in expected_rows(i, data[i]))
        assert "result: fail" not in group.output("agency-2") + group.output("agency-1-again")


@needs_course_data
def test_lottery_up_runs_a_whole_lottery(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [str(BIN / "lottery-up"), "2", "--port", str(port), "--workdir", str(tmp_path), "--max-amount", "500"],
        capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agency 1: 2 winners (exit 0)" in done.stdout
    assert "agency 2: 3 winners (exit 0)" in done.stdout
    assert "server stopped (exit 0)" in done.stdout
    assert len(rows(tmp_path / "store")) == 26936 + 25518
    server = (tmp_path / "logs" / "server.out").read_text()
    assert count_lines(server, "action: sorteo") == 1 and "result: fail" not in server


@needs_course_data
def test_lottery_up_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    with ProcessGroup(tmp_path / "up") as group:
        group.start("lottery-up", [str(BIN / "lottery-up"), "2", "--port", str(port), "--workdir",
                                   str(tmp_path), "--max-amount", "1"])
        wait_for(lambda: len(rows(tmp_path / "store")) > 50, 30, "bets to be stored")
        assert group.stop("lottery-up", signal.SIGINT, grace=20) == 0
        output = group.output("lottery-up")
    assert "SIGINT: stopping the server and the agencies" in output
    for name in ("agency-1", "agency-2", "server"):
        last = actions((tmp_path / "logs" / f"{name}.out").read_text())[-1]
        assert last[:2] == ("exit", "success"), name
    assert not tcp_accepts(port)
