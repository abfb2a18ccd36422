"""Where the checkout's own files are, for tests that run ``bin/`` scripts or read ``demo/``."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "bin"
