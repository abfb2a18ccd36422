"""``imaging-worker --controller HOST:PORT --worker-name NAME [--tags a,b]``: a worker in the
foreground, as ``twistd -n imaging-worker`` with the same arguments (no pid file)."""

from __future__ import annotations

import sys

from twisted.scripts.twistd import run


def main() -> None:
    sys.argv = ["twistd", "-n", "--pidfile=", "imaging-worker", *sys.argv[1:]]
    run()


if __name__ == "__main__":
    main()
