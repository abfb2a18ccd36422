"""``generar-compose.sh FILE N``: the course's compose file for a server and N agencies.

Part 1 of the seed: the project is ``tp0``; ``server`` and ``client1``..``clientN`` (each
with its ``CLI_ID``) share the ``testing_net`` network (subnet ``172.25.125.0/24``); their
configuration files are volumes (exercise 2), so changing one needs no rebuild. The file is
meant to be written at the project's root (the volumes' paths are relative to it); build
the images first::

    docker build -f deploy/lottery/server/Dockerfile -t server:latest .
    docker build -f deploy/lottery/client/Dockerfile -t client:latest .
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

SERVER = """\
  server:
    container_name: server
    image: server:latest
    entrypoint: twistd -n --pidfile= lottery --agencies {agencies} --store /lottery/store --config /lottery/config/config.ini
    environment:
      - PYTHONUNBUFFERED=1
      - LOGGING_LEVEL=DEBUG
    volumes:
      - ./deploy/lottery/server:/lottery/config
    networks:
      - testing_net
"""
CLIENT = """\
  client{n}:
    container_name: client{n}
    image: client:latest
    entrypoint: agency --config /lottery/config/config.yaml
    environment:
      - CLI_ID={n}
      - CLI_LOG_LEVEL=DEBUG
    networks:
      - testing_net
    depends_on:
      - server
    volumes:
      - ./deploy/lottery/client:/lottery/config
      - ./.data/agency-{n}.csv:/lottery/.data/agency-{n}.csv
"""
NETWORK = """\
networks:
  testing_net:
    ipam:
      driver: default
      config:
        - subnet: 172.25.125.0/24
"""


def compose(clients: int) -> str:
    """The compose file's text for a server and ``clients`` agencies."""
    return ("name: tp0\nservices:\n" + SERVER.format(agencies=clients)
            + "".join(CLIENT.format(n=n) for n in range(1, clients + 1)) + NETWORK)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not args[1].isdigit():
        print("usage: generar-compose.sh FILE N   (N: how many clients, 0 or more)", file=sys.stderr)
        return 2
    path, clients = Path(args[0]), int(args[1])
    path.write_text(compose(clients), encoding="utf-8")
    print(f"{path}: server and {clients} client{'s' if clients != 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
