"""herd's tests: ``tests/<system>/`` packages (``pytest`` runs them all; ``trial tests`` the TestCases).

Tests still at this level import their helper module as ``fakes`` (``from fakes import ...``):
this directory is put on ``sys.path`` so that works under ``trial`` and pytest alike.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)
