#!/usr/bin/env python3
"""server.py NAME [options]: run server NAME of the places herd (``twistd -n places``).

The specification's entry point: ``python3 bin/server.py Goloman``. It runs in the
foreground with the project's .venv (or this Python's Twisted), logging to stdout and to
its traffic log (``logs/places/NAME.log``); options after NAME go to ``twistd places``
(``--topology FILE``, ``--places-key KEY``, ...; see ``twistd places --help``).
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: server.py NAME [twistd places options]")
    name, options = sys.argv[1], sys.argv[2:]
    python = HERE / ".venv" / "bin" / "python"
    if not python.exists():
        python = Path(sys.executable)
    sys.path.insert(0, str(HERE))
    from herd.core.processes import twistd

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    argv = [*twistd(str(python)), "-n", "--pidfile=", "places", *options, "--name", name]
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
