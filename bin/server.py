#!/usr/bin/env python3
"""server.py NAME [options]: run server NAME of the places herd (see herd/places/cli/server.py).

The specification's entry point: ``python3 bin/server.py Goloman``. A thin wrapper: it runs
``herd.places.cli.server`` with the checkout's .venv (or this Python), which runs the
server in that process (no twistd), listening a few tenths of a second after the start.
"""

import os
import sys

HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
python = os.path.join(HERE, ".venv", "bin", "python")
if not os.path.exists(python):
    python = sys.executable
paths = [HERE, os.environ.get("PYTHONPATH", "")]
env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
os.execve(python, [python, "-m", "herd.places.cli.server", *sys.argv[1:]], env)
