"""``twistd orchestrator``: the scan pool's UDP orchestrator, wired to the reactor."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from twisted.application import internet
from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python import usage

from herd.core.allowlist import AllowList
from herd.core.options import port_number, positive_float, positive_int
from herd.core.tokens import Tokens, load_secret
from herd.core.loglevel import LevelLogger, log_level, set_level
from herd.scan.orchestrator.access import Access
from herd.scan.orchestrator.connection import OrchestratorProtocol, ReadBatchUDPServer
from herd.scan.orchestrator.metrics import NoMetrics, PoolMetrics
from herd.scan.orchestrator.pool import Pool, Worker
from herd.scan.orchestrator.queue import DispatchQueue, Job
from herd.scan.orchestrator.service import Orchestrator
from herd.scan.orchestrator.snapshot import take_snapshot
from herd.scan.orchestrator.store import Store
from herd.scan.orchestrator.worker_connection import check_on_worker

log = LevelLogger()


class Options(usage.Options):
    """Command line of ``twistd orchestrator``."""

    synopsis = "[--port 54000] [--interface ADDRESS] [options]"
    longdesc = (
        "Queue CHECK requests received over UDP and dispatch them to the registered workers "
        "over TCP. Jobs, results and the pool are kept in SQLite (--db). Replies and "
        "messages are described in herd's README."
    )
    optParameters = [
        ["port", "p", 54000, "UDP port to listen on.", port_number],
        ["interface", "i", "", "Address to listen on (default: all)."],
        ["db", None, "herd-orchestrator.sqlite", "SQLite database of jobs, results and pool "
         "(':memory:' keeps nothing across restarts)."],
        ["job-timeout", None, 60.0, "Seconds to wait for a worker's result.", positive_float],
        ["connect-timeout", None, 5.0, "Seconds to wait for a worker's TCP connection.", positive_float],
        ["max-attempts", None, 3, "Workers tried for one job before it is given up.", positive_int],
        ["max-queue", None, 10000, "Jobs waiting at most; past it, CHECK gets 503 BUSY.", positive_int],
        ["heartbeat-timeout", None, 10.0, "Seconds without a heartbeat before a worker is dead.",
         positive_float],
        ["allow-clients", None, None, "Addresses or networks (CIDR, comma-separated) allowed "
         "to send CHECK, STATUS, HITS, JOB and DEAD (default: everyone)."],
        ["allow-workers", None, None, "Addresses or networks allowed to REGISTER and "
         "HEARTBEAT (default: everyone)."],
        ["secret-file", None, None, "File holding the secret shared with the workers "
         "(default: $HERD_SECRET; none: no tokens)."],
        ["token-window", None, 30.0, "Seconds a token stays valid.", positive_float],
        ["dashboard-port", None, None, "TCP port of the web dashboard and /metrics (default: none).",
         port_number],
        ["dashboard-interface", None, "127.0.0.1", "Address the dashboard listens on."],
        ["logs-root", None, None, "Directory holding the workers' LOGDIRs (logs/<worker-id>/), "
         "to show hit images on the dashboard."],
        ["log-level", None, "info", "Lowest level logged: debug (every job), info, warn, error "
         "(events below it are dropped before they are formatted).", log_level],
    ]

    def postOptions(self) -> None:
        try:
            self["clients"] = AllowList.parse(self["allow-clients"])
            self["workers"] = AllowList.parse(self["allow-workers"])
            self["secret"] = load_secret(self["secret-file"])
        except ValueError as error:
            raise usage.UsageError(str(error)) from None


def _checkpoint(reactor: Any, store: Store) -> "Deferred[None]":
    """One WAL checkpoint in the reactor's thread pool (the TimerService waits for it)."""
    done = deferToThreadPool(reactor, reactor.getThreadPool(), store.checkpoint)
    done.addErrback(lambda failure: log.failure("WAL checkpoint failed", failure))
    return done


def makeService(options: Options) -> IService:
    """The orchestrator, its UDP port and, optionally, its dashboard."""
    from twisted.internet import reactor

    set_level(options["log-level"])

    secret = options["secret"]
    tokens = Tokens(secret, reactor, options["token-window"]) if secret else None
    if tokens is None:
        log.warn("no shared secret (--secret-file or $HERD_SECRET): anyone who can reach "
                 "this orchestrator may register a worker, and anyone may drive the workers")
    check = partial(check_on_worker, reactor, timeout=options["job-timeout"],
                    connect_timeout=options["connect-timeout"], tokens=tokens)
    store = Store(options["db"], checkpoint_in_thread=True)
    pool = Pool(reactor, options["heartbeat-timeout"])
    queue: DispatchQueue[Job, Worker] = DispatchQueue(pool)
    snapshot = partial(take_snapshot, pool, queue, store, reactor)
    dashboard = options["dashboard-port"] is not None
    metrics = PoolMetrics(snapshot) if dashboard else NoMetrics()
    orchestrator = Orchestrator(
        check, reactor, store, pool, queue, metrics,
        Access(options["clients"], options["workers"], tokens),
        max_attempts=options["max-attempts"], max_queue=options["max-queue"], group_commit=True,
    )
    log.info("clients allowed: {clients}; workers allowed: {workers}; database {db}",
             clients=str(options["clients"]), workers=str(options["workers"]), db=options["db"])
    top = MultiService()
    orchestrator.setServiceParent(top)
    if store.checkpoint_in_thread:
        internet.TimerService(1.0, _checkpoint, reactor, store).setServiceParent(top)
    if dashboard:
        from twisted.web.server import Site

        from herd.scan.orchestrator.dashboard import dashboard_resource

        logs_root = Path(options["logs-root"]) if options["logs-root"] else None
        site = Site(dashboard_resource(snapshot, metrics, logs_root))
        site.noisy = False
        internet.TCPServer(options["dashboard-port"], site,
                           interface=options["dashboard-interface"]).setServiceParent(top)
    udp = ReadBatchUDPServer(
        options["port"],
        OrchestratorProtocol(orchestrator.handle, metrics.on_refused, orchestrator.flush),
        interface=options["interface"],
    )
    udp.setServiceParent(top)
    return top
