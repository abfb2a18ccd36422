"""``twistd -n echo-server [--port 12345]``: the echo server of the course's Part 1.

It reads the lottery server's configuration (``config.ini``'s ``[DEFAULT]``, then
``SERVER_PORT``/``SERVER_IP``/``SERVER_LISTEN_BACKLOG``/``LOGGING_LEVEL`` from the
environment, then the command line).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from twisted.application import internet
from twisted.application.service import IService, Service
from twisted.logger import Logger
from twisted.python import usage

from herd.lottery.echo.connection import EchoFactory
from herd.lottery.lifecycle import stop_on_sigterm
from herd.lottery.logs import LoggingMultiService
from herd.lottery.server.config import ConfigError, ServerConfig, load_server_config

log = Logger()


class Options(usage.Options):
    """Command line of ``twistd echo-server``."""

    synopsis = "[--port 12345] [--interface 0.0.0.0] [--config config.ini]"
    optParameters = [
        ["port", "p", None, "TCP port (SERVER_PORT; default 12345)."],
        ["interface", "i", None, "Address to listen on (SERVER_IP; default 0.0.0.0)."],
        ["config", "c", None, "INI file (default: config.ini here, if any)."],
    ]

    def postOptions(self) -> None:
        ini: Optional[Path] = Path(self["config"]) if self["config"] else None
        if ini is None and Path("config.ini").is_file():
            ini = Path("config.ini")
        try:
            self["server"] = load_server_config(
                {"SERVER_PORT": self["port"], "SERVER_IP": self["interface"]}, os.environ, ini)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None


class _Announce(Service):
    def __init__(self, reactor: object, config: ServerConfig) -> None:
        self.reactor = reactor
        self.config = config

    def startService(self) -> None:
        super().startService()
        log.info("action: config | result: success | port: {port} | ip: {ip}",
                 port=self.config.port, ip=self.config.interface)
        stop_on_sigterm(self.reactor, "echo-server")

    def stopService(self) -> None:
        super().stopService()
        log.info("action: exit | result: success")


def makeService(options: Options) -> IService:
    """The echo server's port."""
    from twisted.internet import reactor

    config: ServerConfig = options["server"]
    top = LoggingMultiService(config.level)
    _Announce(reactor, config).setServiceParent(top)
    internet.TCPServer(config.port, EchoFactory(), backlog=config.backlog,
                       interface=config.interface).setServiceParent(top)
    return top
