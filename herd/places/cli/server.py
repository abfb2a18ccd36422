"""``places-server NAME [options]`` (``bin/server.py NAME``): run one server of the places herd.

The specification's entry point, ``python3 bin/server.py Goloman``. The server runs in this
process, on the default reactor, in the foreground: the same service as ``twistd -n places
--name NAME`` (``herd.places.server.tap``), without twistd's plugin scan, so it listens a
few tenths of a second after it starts. It logs to stdout and to its traffic log
(``logs/places/NAME.log``) and stops on SIGTERM or SIGINT.

Its herd is found without a flag: ``topology.json`` in the working directory, else the
file named by ``$HERD_PLACES_TOPOLOGY``, else the packaged one (the first that names NAME);
``--topology FILE`` forces one. Other options are those of ``twistd places --help``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional, Sequence

if TYPE_CHECKING:
    from herd.places.server.tap import Options

USAGE = "usage: server.py NAME [--topology FILE] [twistd places options]"


def _topology_given(options: Sequence[str]) -> bool:
    return any(o in ("-t", "--topology") or o.startswith("--topology=") for o in options)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run server NAME until it is stopped; 2 for a bad command line, 1 if it cannot listen."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        if args and args[0] in ("-h", "--help"):
            print(USAGE + "\n\n" + (__doc__ or "").strip())
            return 0
        print(USAGE, file=sys.stderr)
        return 2
    name, options = args[0], args[1:]

    from twisted.python import usage

    from herd.places.server.tap import Options
    from herd.places.topology import TopologyError, find_topology

    if not _topology_given(options):
        try:
            path, _ = find_topology(name)
        except TopologyError as error:
            print(f"server.py: {error}", file=sys.stderr)
            return 2
        options = ["--topology", str(path), *options]
    config = Options()
    try:
        config.parseOptions([*options, "--name", name])
    except usage.UsageError as error:
        print(f"server.py: {error}\n{USAGE}", file=sys.stderr)
        return 2
    return run(config)


def run(config: "Options") -> int:
    """Start the service of ``config`` on the global reactor and run it until stopped."""
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from herd.places.server.tap import makeService

    observer = textFileLogObserver(sys.stdout)
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(observer, [LogLevelFilterPredicate(LogLevel.info)])],
        redirectStandardIO=False,
    )
    service = makeService(config)
    try:
        service.startService()
    except CannotListenError as error:
        print(f"server.py: {config['name']} cannot listen: {error}", file=sys.stderr)
        return 1
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
