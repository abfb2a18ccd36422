"""A small linearizability checker for the replicated counter's histories.

Every operation is an increment that returns the counter after it. A history (the clients'
``--history`` lines) is linearizable when the operations can be ordered so that each
returns its position in the order, consistently with real time. For a counter that is:

- every answered (``ok``) operation returns a distinct value of at least 1;
- an operation that completed before another was invoked returns a smaller value;
- no value exceeds the number of operations invoked up to its completion (an increment
  cannot count operations that had not started yet);
- operations that timed out may or may not have taken effect, so they may fill the gaps.

``check`` returns the list of violations (empty: linearizable), each a sentence naming the
operations involved, Knossos/Porcupine style: the smallest witness, not a proof.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

from attrs import frozen


@frozen
class Operation:
    client: str
    request: int
    invoke: float
    complete: float
    outcome: str
    value: Optional[int]

    def __str__(self) -> str:
        return f"{self.client}#{self.request}={self.value}"


def read_history(paths: Iterable[Path]) -> list[Operation]:
    """The operations of every history file."""
    ops = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                raw = json.loads(line)
                ops.append(Operation(raw.get("client", Path(path).stem), raw["request"],
                                     raw["invoke"], raw["complete"], raw["outcome"],
                                     raw.get("value")))
    return ops


def check(ops: list[Operation]) -> list[str]:
    """Why ``ops`` is not a linearizable counter history (empty list: it is)."""
    problems: list[str] = []
    done = sorted((op for op in ops if op.outcome == "ok"), key=lambda op: op.value or 0)
    seen: dict[int, Operation] = {}
    for op in done:
        if op.value is None or op.value < 1:
            problems.append(f"{op} returned no valid value")
            continue
        if op.value in seen:
            problems.append(f"{seen[op.value]} and {op} both returned {op.value}")
        seen[op.value] = op
    # Real-time order: sweep by completion; the largest value completed before each invoke.
    by_invoke = sorted(done, key=lambda op: op.invoke)
    by_complete = sorted(done, key=lambda op: op.complete)
    best: Optional[Operation] = None
    i = 0
    for op in by_invoke:
        while i < len(by_complete) and by_complete[i].complete < op.invoke:
            if best is None or (by_complete[i].value or 0) > (best.value or 0):
                best = by_complete[i]
            i += 1
        if best is not None and op.value is not None and best.value is not None \
                and op.value <= best.value:
            problems.append(f"{best} completed before {op} began, yet returned "
                            f"{best.value} >= {op.value}")
    invokes = sorted(op.invoke for op in ops)
    for op in done:
        started = sum(1 for t in invokes if t <= op.complete)
        if op.value is not None and op.value > started:
            problems.append(f"{op} returned {op.value} but only {started} operations "
                            f"had begun by its end")
    return problems


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m herd.replication.linearizability HISTORY...``: exit 1 if not linearizable."""
    import sys

    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    ops = read_history(paths)
    problems = check(ops)
    for problem in problems:
        print(problem)
    answered = sum(1 for op in ops if op.outcome == "ok")
    print(f"{len(ops)} operations, {answered} answered: "
          f"{'linearizable' if not problems else 'NOT linearizable'}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
