#!/usr/bin/env python3
"""server.py NAME [options]: run server NAME of the places herd (see herd/places/cli/server.py).

The specification's entry point: ``python3 bin/server.py Goloman``. A thin wrapper that
runs ``herd.places.cli.server`` (the server itself, in that process: no twistd) with the
checkout's .venv when there is one, else with this Python. When this Python is the very
interpreter of the .venv (the usual case), the .venv's packages are put on the path
instead of starting that interpreter again: one start-up less before the server listens.
"""

import os
import sys

HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
VENV = os.path.join(HERE, ".venv")
python = os.path.join(VENV, "bin", "python")
packages = os.path.join(VENV, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")

if not os.path.exists(python) or sys.prefix == VENV:
    python = None  # run here: no .venv, or already in it
elif os.path.realpath(python) == os.path.realpath(sys.executable) and os.path.isdir(packages):
    import site

    # What the .venv's own start would do: its packages (and .pth files), not the base's.
    base = set(site.getsitepackages() + [site.getusersitepackages()])
    sys.path[:] = [p for p in sys.path if p not in base]
    site.addsitedir(packages)
    python = None

if python is None:
    sys.path.insert(0, HERE)
    from herd.places.cli.server import main

    sys.exit(main())
paths = [HERE, os.environ.get("PYTHONPATH", "")]
env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
os.execve(python, [python, "-m", "herd.places.cli.server", *sys.argv[1:]], env)
