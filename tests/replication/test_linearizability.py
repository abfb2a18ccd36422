"""The checker on histories that are and are not linearizable."""

from __future__ import annotations

import json
from pathlib import Path

from herd.replication.linearizability import Operation, check, main, read_history


def op(client: str, request: int, invoke: float, complete: float, value: int | None,
       outcome: str = "ok") -> Operation:
    return Operation(client, request, invoke, complete, outcome, value)


def test_concurrent_operations_may_take_either_order() -> None:
    assert check([op("C1", 1, 0, 10, 2), op("C2", 1, 1, 5, 1), op("C3", 1, 11, 12, 3)]) == []


def test_a_timed_out_operation_may_have_taken_effect() -> None:
    assert check([op("C1", 1, 0, 1, 1), op("C2", 1, 2, 30, None, "timeout"),
                  op("C1", 2, 3, 4, 3)]) == []


def test_two_operations_with_the_same_value_are_not_linearizable() -> None:
    problems = check([op("C1", 1, 0, 1, 1), op("C2", 1, 0, 1, 1)])
    assert len(problems) == 1 and "both returned 1" in problems[0]


def test_a_stale_value_after_a_completed_operation_is_not_linearizable() -> None:
    problems = check([op("C1", 1, 0, 1, 2), op("C2", 1, 2, 3, 1), op("C3", 1, 0, 0.5, 3)])
    assert any("completed before" in p for p in problems)


def test_a_value_counting_operations_not_yet_begun_is_not_linearizable() -> None:
    problems = check([op("C1", 1, 0, 1, 2), op("C2", 1, 5, 6, 1)])
    assert any("had begun" in p for p in problems)


def test_histories_from_files_and_the_command(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "C1.history"
    good.write_text("".join(json.dumps({"client": "C1", "request": i, "invoke": i, "complete": i + .5,
                                        "outcome": "ok", "value": i, "server": "S1"}) + "\n"
                            for i in (1, 2, 3)))
    assert len(read_history([good])) == 3
    assert main([str(good)]) == 0
    bad = tmp_path / "C2.history"
    bad.write_text(json.dumps({"client": "C2", "request": 1, "invoke": 9, "complete": 9.5,
                               "outcome": "ok", "value": 2, "server": "S1"}) + "\n")
    assert main([str(good), str(bad)]) == 1
    assert "NOT linearizable" in capsys.readouterr().out
