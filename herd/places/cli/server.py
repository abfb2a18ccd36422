"""``places-server NAME [options]`` (``bin/server.py NAME``): run one server of the places herd.

The specification's entry point, ``python3 bin/server.py Goloman``: ``twistd -n places
--name NAME`` in the foreground, with the twistd beside this Python, logging to stdout and
to its traffic log (``logs/places/NAME.log``); options after NAME go to ``twistd places``
(``--topology FILE``, ``--places-key KEY``, ...; see ``twistd places --help``).
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from herd.core.launcher import twistd_command

USAGE = "usage: server.py NAME [twistd places options]"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Replace this process with ``twistd -n --pidfile= places [options] --name NAME``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        if args and args[0] in ("-h", "--help"):
            print(USAGE + "\n\n" + __doc__.strip())
            return 0
        print(USAGE, file=sys.stderr)
        return 1
    name, options = args[0], args[1:]
    command = [*twistd_command(), "-n", "--pidfile=", "places", *options, "--name", name]
    sys.stdout.flush()
    os.execv(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
