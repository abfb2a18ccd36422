"""``twistd worker PORT LOGDIR WORKER_HOST ORCH_HOST ORCH_PORT WORKER_ID``, wired."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from treq.client import HTTPClient
from twisted.application import internet
from twisted.application.service import IService, MultiService
from twisted.internet.threads import deferToThreadPool
from twisted.python import usage
from twisted.web.client import Agent

from herd.core.http import QuietConnectionPool
from herd.core.tokens import Tokens, load_secret
from herd.protocols.scan import (
    ProtocolError,
    RegisterRequest,
    check_host,
    check_port,
    check_worker_id,
)
from herd.core.options import positive_float, positive_int
from herd.core.loglevel import LevelLogger, log_level, set_level
from herd.scan.worker.registrar import RegistrationService
from herd.scan.worker.scanner import FetchLimits, PageScanner
from herd.scan.worker.connection import CheckServerFactory

PORT_RANGE = range(54000, 54151)
log = LevelLogger()


class Options(usage.Options):
    """Command line of ``twistd worker``: the six arguments the specification fixes."""

    synopsis = "PORT LOGDIR WORKER_HOST ORCH_HOST ORCH_PORT WORKER_ID [options]"
    longdesc = (
        "Listen on TCP PORT (54000-54150) for CHECK requests, save images under LOGDIR, and "
        "register as WORKER_ID reachable at WORKER_HOST:PORT with the orchestrator at "
        "ORCH_HOST:ORCH_PORT (UDP)."
    )
    optFlags = [
        ["no-dedup", None, "Write every image, even one whose bytes were saved already."],
    ]
    optParameters = [
        ["interface", "i", "", "Address to listen on (default: all)."],
        ["page-timeout", None, 15.0, "Seconds allowed to fetch a page.", positive_float],
        ["image-timeout", None, 15.0, "Seconds allowed to fetch one image.", positive_float],
        ["job-timeout", None, 45.0, "Seconds allowed for a whole job, images included "
         "(keep it below the orchestrator's --job-timeout).", positive_float],
        ["max-page-bytes", None, 5 * 1024 * 1024, "Largest page fetched.", positive_int],
        ["max-image-bytes", None, 10 * 1024 * 1024, "Largest image saved.", positive_int],
        ["max-images", None, 100, "Most images saved from one page.", positive_int],
        ["parallel-images", None, 8, "Images fetched at once.", positive_int],
        ["quiet", None, 0.25, "Seconds of silence that end a request sent without a newline.", positive_float],
        ["concurrency", "c", 1, "Jobs run at once (the orchestrator sends up to this many).",
         positive_int],
        ["heartbeat", None, 2.0, "Seconds between two heartbeats to the orchestrator.", positive_float],
        ["secret-file", None, None, "File holding the secret shared with the orchestrator "
         "(default: $HERD_SECRET; none: no tokens, any client may send CHECK)."],
        ["token-window", None, 30.0, "Seconds a token stays valid.", positive_float],
        ["log-level", None, "info", "Lowest level logged: debug (every job), info, warn, error "
         "(events below it are dropped before they are formatted).", log_level],
    ]

    def parseArgs(  # type: ignore[override]
        self, port: str, logdir: str, worker_host: str, orch_host: str, orch_port: str, worker_id: str
    ) -> None:
        try:
            self["port"] = check_port(port)
            self["worker-host"] = check_host(worker_host)
            self["orch-host"] = check_host(orch_host)
            self["orch-port"] = check_port(orch_port)
            self["worker-id"] = check_worker_id(worker_id)
        except ProtocolError as error:
            raise usage.UsageError(str(error)) from None
        if self["port"] not in PORT_RANGE:
            raise usage.UsageError(
                f"PORT must be in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}, not {port}"
            )
        path = Path(logdir)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise usage.UsageError(f"cannot use LOGDIR {logdir}: {error.strerror}") from None
        self["logdir"] = path.resolve()
        try:
            self["secret"] = load_secret(self["secret-file"])
        except ValueError as error:
            raise usage.UsageError(str(error)) from None


def worker_http_client(reactor: Any, connect_timeout: float, connections: int) -> HTTPClient:
    """treq over a quiet persistent pool keeping up to ``connections`` idle connections
    per host: enough for every page and image a worker fetches at once, so that a busy
    worker reuses its connections instead of opening and closing one per fetch (the
    pool's default keeps 2)."""
    pool = QuietConnectionPool(reactor)
    pool.maxPersistentPerHost = max(2, min(connections, 64))
    return HTTPClient(Agent(reactor, connectTimeout=connect_timeout, pool=pool))


def makeService(options: Options) -> IService:
    """The worker's TCP listener and its registration with the orchestrator."""
    from twisted.internet import reactor

    set_level(options["log-level"])

    limits = FetchLimits(
        page_bytes=options["max-page-bytes"],
        image_bytes=options["max-image-bytes"],
        images_per_page=options["max-images"],
        page_timeout=options["page-timeout"],
        image_timeout=options["image-timeout"],
        parallel_images=options["parallel-images"],
        job_timeout=options["job-timeout"],
    )
    http = worker_http_client(reactor, options["page-timeout"],
                              options["concurrency"] * (1 + options["parallel-images"]))
    scanner = PageScanner(http, reactor, options["logdir"], limits, dedup=not options["no-dedup"],
                          in_thread=partial(deferToThreadPool, reactor, reactor.getThreadPool()))
    secret = options["secret"]
    tokens = Tokens(secret, reactor, options["token-window"]) if secret else None
    if tokens is None:
        log.warn("no shared secret (--secret-file or $HERD_SECRET): any client may send CHECK "
                 "to this worker, and its REGISTER and heartbeats are not signed")
    factory = CheckServerFactory(scanner.scan, reactor, quiet=options["quiet"], tokens=tokens)
    top = MultiService()
    internet.TCPServer(options["port"], factory, interface=options["interface"]).setServiceParent(top)
    registration = RegistrationService(
        reactor,
        RegisterRequest(options["worker-host"], options["port"], options["worker-id"],
                        options["concurrency"]),
        (options["orch-host"], options["orch-port"]),
        tokens=tokens,
        running=lambda: factory.jobs.running,
        heartbeat=options["heartbeat"],
    )
    registration.setServiceParent(top)
    return top
