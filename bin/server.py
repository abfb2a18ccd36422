#!/usr/bin/env python3
"""server.py NAME [options]: run server NAME of the places herd (see herd/places/cli/server.py).

The specification's entry point: ``python3 bin/server.py Goloman``. A thin wrapper: it runs
``herd.places.cli.server`` with the project's .venv (or this Python), which runs
``twistd -n places --name NAME`` in the foreground.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
python = HERE / ".venv" / "bin" / "python"
if not python.exists():
    python = Path(sys.executable)
env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
os.execve(str(python), [str(python), "-m", "herd.places.cli.server", *sys.argv[1:]], env)
