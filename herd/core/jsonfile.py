"""Reading a JSON configuration file with errors that say which file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union


def read_json(path: Union[str, Path], error: type[Exception]) -> Any:
    """The decoded contents of ``path``; ``error`` with a one-line reason if it cannot be read.

    ``error`` is the caller's own exception type (``TopologyError``, ``ClusterError``...),
    raised as ``cannot read <path>: <reason>`` or ``<path> is not valid JSON: <where>``.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as problem:
        raise error(f"cannot read {path}: {problem.strerror}") from None
    except ValueError as problem:
        raise error(f"{path} is not valid JSON: {problem}") from None
