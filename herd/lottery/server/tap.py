"""``twistd -n lottery --agencies N``: the lottery server, wired to the reactor and the disk."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional

from twisted.application import internet
from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.threads import deferToThread
from twisted.logger import Logger, LogLevel
from twisted.python import usage

from herd.core.options import positive_float, positive_int
from herd.lottery.lifecycle import stop_on_sigterm
from herd.lottery.logs import LoggingMultiService
from herd.lottery.server.commit import GroupCommit
from herd.lottery.server.config import ConfigError, ServerConfig, load_server_config
from herd.lottery.server.connection import LotteryFactory
from herd.lottery.server.service import WINNING_NUMBER, LotteryService
from herd.lottery.server.store import BetStore

log = Logger()


class Options(usage.Options):
    """Command line of ``twistd lottery``."""

    synopsis = "--agencies N [--port 12345] [--interface 0.0.0.0] [--store DIR] [--config FILE]"
    longdesc = (
        "Run the lottery server: agencies send bets over the binary batched protocol "
        "(docs/lottery-protocol.md); the bets go to DIR/bets.csv, fsynced before each "
        "acknowledgement; the draw happens once, when the last of the N agencies has ended. "
        "Configuration: the INI file's [DEFAULT] (SERVER_PORT, SERVER_IP, "
        "SERVER_LISTEN_BACKLOG, LOGGING_LEVEL), overridden by environment variables of the "
        "same names, overridden by the command line."
    )
    optParameters = [
        ["agencies", "a", None, "How many agencies take part (their ids: 1 to N)", positive_int],
        ["port", "p", None, "TCP port (SERVER_PORT; default 12345)."],
        ["interface", "i", None, "Address to listen on (SERVER_IP; default 0.0.0.0)."],
        ["backlog", None, None, "Listen backlog (SERVER_LISTEN_BACKLOG; default 50)."],
        ["log-level", None, None, "DEBUG, INFO, WARNING, ERROR (LOGGING_LEVEL; default INFO)."],
        ["store", "s", "store", "Store directory (bets.csv, agencies.csv, draw.json)."],
        ["config", "c", None, "INI file (default: config.ini in the working directory, if any)."],
        ["idle-timeout", None, 60.0, "Seconds before an idle connection is closed.", positive_float],
        ["group-linger", None, 0.002, "Longest wait (s) for the senders of the last group "
         "before the next group is written, and never longer than a write takes (0: none).", float],
    ]
    optFlags = [
        ["write-thread", None, "Write and fsync in a thread, parsing frames meanwhile "
         "(default: on the reactor thread, between two turns)."],
    ]

    def postOptions(self) -> None:
        if self["agencies"] is None:
            raise usage.UsageError("--agencies is required")
        ini: Optional[Path] = Path(self["config"]) if self["config"] else None
        if ini is None and Path("config.ini").is_file():
            ini = Path("config.ini")
        try:
            self["server"] = load_server_config(
                {
                    "SERVER_PORT": self["port"],
                    "SERVER_IP": self["interface"],
                    "SERVER_LISTEN_BACKLOG": self["backlog"],
                    "LOGGING_LEVEL": self["log-level"],
                },
                os.environ,
                ini,
            )
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None


class Lifecycle(Service):
    """The draw left pending by a crash at start; a graceful end at stop."""

    def __init__(self, reactor: Any, service: LotteryService, factory: LotteryFactory,
                 store: BetStore, config: ServerConfig, agencies: int) -> None:
        self.reactor = reactor
        self.service = service
        self.factory = factory
        self.store = store
        self.config = config
        self.agencies = agencies

    def startService(self) -> None:
        super().startService()
        c = self.config
        log.info(
            "action: config | result: success | port: {port} | ip: {ip} | listen_backlog: "
            "{backlog} | logging_level: {logging_level} | agencias: {agencies} | store: {store}",
            port=c.port, ip=c.interface, backlog=c.backlog, logging_level=c.level.name.upper(),
            agencies=self.agencies, store=str(self.store.directory),
        )
        stop_on_sigterm(self.reactor, "server")
        Deferred.fromCoroutine(self.service.start()).addErrback(
            lambda failure: log.failure("holding the pending draw", failure))

    async def _stop(self) -> None:
        closed = self.factory.close_all()
        await self.service.idle()
        await DeferredList([closed], consumeErrors=True)
        self.store.close()
        log.info("action: exit | result: success | bets: {bets} | fsync_groups: {groups}",
                 bets=sum(self.service.stored(a) for a in range(1, self.agencies + 1)),
                 groups=self.service.groups)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromCoroutine(self._stop())


def makeService(options: Options) -> IService:
    """The listening port, the service that decides and the store behind it."""
    from twisted.internet import reactor

    config: ServerConfig = options["server"]
    agencies: int = options["agencies"]
    store = BetStore(Path(options["store"]), WINNING_NUMBER)
    try:
        recovered = store.recover()
    except (OSError, ValueError, IndexError) as error:
        raise SystemExit(f"lottery: cannot open the store {store.directory}: {error}") from None
    if recovered.cut:
        log.warn("store: cut {n} bytes of a torn last line (never acknowledged)", n=recovered.cut)
    log.info("store {store}: {bets} bets, ended agencies {ended}, draw {draw}",
             store=str(store.directory), bets=sum(recovered.counts.values()),
             ended=sorted(recovered.ended), draw="done" if recovered.draw is not None else "pending")
    run = deferToThread if options["write-thread"] else maybeDeferred
    commit = GroupCommit(store.append, run, reactor, options["group-linger"], timer=time.perf_counter)
    service = LotteryService(
        agencies, recovered, commit,
        lambda winners, bets: deferToThread(store.record_draw, winners, bets),
        per_frame_logs=config.level in (LogLevel.debug, LogLevel.info),
    )
    factory = LotteryFactory(service, reactor, idle_timeout=options["idle-timeout"])
    top = LoggingMultiService(config.level)
    Lifecycle(reactor, service, factory, store, config, agencies).setServiceParent(top)
    internet.TCPServer(config.port, factory, backlog=config.backlog,
                       interface=config.interface).setServiceParent(top)
    return top
