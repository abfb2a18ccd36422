"""``twistd -n imaging``: the API, the controller and the scheduler in one process."""

from __future__ import annotations

import secrets
import signal
from functools import partial
from pathlib import Path
from typing import Any, Optional

from twisted.application import internet
from twisted.application.service import IService, MultiService, Service
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import usage
from twisted.web.server import Site

from herd.core.options import port_number, positive_float, positive_int
from herd.core.passwords import hash_password
from herd.core.tokens import Tokens, load_secret
from herd.imaging.accounts import WORKER, Accounts
from herd.imaging.api.app import ImagingAPI
from herd.imaging.api.request import limited_request
from herd.imaging.api.uploads import Limits
from herd.imaging.controller.connection import WorkerConnectionFactory
from herd.imaging.controller.registry import WorkerRegistry
from herd.imaging.controller.scheduler import Scheduler
from herd.imaging.controller.store import Store
from herd.imaging.users import UsersFileError, read_users

log = Logger()


class Options(usage.Options):
    """Command line of ``twistd imaging``."""

    synopsis = "[--port 8080] [--controller-port 8081] [--data DIR] [--users FILE] [options]"
    longdesc = ("Run the imaging API (HTTP), its controller (AMP, where workers subscribe) and "
                "its scheduler. Without --users, a user 'demo' is created with a random "
                "password printed once in the log.")
    optParameters = [
        ["port", "p", 8080, "API port (HTTP).", port_number],
        ["interface", "i", "127.0.0.1", "API address to listen on."],
        ["controller-port", None, 8081, "Controller port (AMP, for workers).", port_number],
        ["controller-interface", None, "0.0.0.0", "Controller address to listen on."],
        ["data", "d", "imaging-data", "Data directory: imaging.sqlite and images/."],
        ["users", "u", None, "Users file (bin/imaging-passwd); reloaded on SIGHUP."],
        ["token-ttl", None, 3600.0, "Seconds a login token lives.", positive_float],
        ["api-url", None, None, "API URL given to workers (default: http://<the address "
         "the worker reached the controller at>:<port>)."],
        ["secret", None, None, "File with the secret workers prove (default: $HERD_SECRET; "
         "none: any worker may subscribe)."],
        ["report-interval", None, 2.0, "Seconds between worker load reports.", positive_float],
        ["worker-timeout", None, 6.0, "Silence after which a worker is dead.", positive_float],
        ["job-timeout", None, 300.0, "Seconds a worker may take on one job.", positive_float],
        ["max-attempts", None, 5, "Failures before a job is given up.", positive_int],
        ["max-queue", None, 10000, "Jobs waiting before uploads get 429.", positive_int],
        ["max-upload", None, 32 * 1024 * 1024, "Largest image, in bytes.", positive_int],
        ["max-pixels", None, 40_000_000, "Largest image, in pixels.", positive_int],
        ["system-name", None, "DPIP", "system_name in GET /status."],
    ]

    def postOptions(self) -> None:
        if self["users"] is not None:
            try:
                read_users(Path(self["users"]))
            except UsersFileError as error:
                raise usage.UsageError(str(error)) from None
        try:
            self["proof-secret"] = load_secret(self["secret"])
        except ValueError as error:
            raise usage.UsageError(str(error)) from None


class ImagingService(Service):
    """Starts the registry and the scheduler; loads the users, again on SIGHUP."""

    def __init__(self, reactor: Any, accounts: Accounts, store: Store, registry: WorkerRegistry,
                 scheduler: Scheduler, users: Optional[Path]) -> None:
        self._reactor = reactor
        self._accounts = accounts
        self._store = store
        self._registry = registry
        self._scheduler = scheduler
        self._users = users

    def load_users(self) -> None:
        """Read the users file (or make the demo user)."""
        if self._users is None:
            password = secrets.token_urlsafe(12)
            self._accounts.set_users({"demo": hash_password(password)})
            log.warn("no --users file: user 'demo', password {password} (this run only)",
                     password=password)
            return
        try:
            users = read_users(self._users)
        except UsersFileError as error:
            log.error("users not reloaded: {error}", error=str(error))
            return
        self._accounts.set_users(users)
        log.info("{count} user(s) loaded from {path}", count=len(users), path=str(self._users))

    def startService(self) -> None:
        super().startService()
        self._store.revoke_kind(WORKER)  # no worker is connected yet
        self.load_users()
        if self._users is not None:
            signal.signal(signal.SIGHUP, lambda *_: self._reactor.callFromThread(self.load_users))
        self._registry.start()
        self._scheduler.start()

    def stopService(self) -> None:
        self._scheduler.stop()
        self._registry.stop()
        return super().stopService()


def makeService(options: Options) -> IService:
    """The API site, the controller's AMP port and the scheduler, on the global reactor."""
    from twisted.internet import reactor

    data = Path(options["data"])
    data.mkdir(parents=True, exist_ok=True)
    store = Store(data / "imaging.sqlite")
    in_thread = partial(deferToThreadPool, reactor, reactor.getThreadPool())
    accounts = Accounts(store, reactor, options["token-ttl"], in_thread)
    registry = WorkerRegistry(store, reactor, options["worker-timeout"],
                              accounts.issue_worker_token, accounts.revoke)
    scheduler = Scheduler(store, registry, reactor, max_queue=options["max-queue"],
                          job_timeout=options["job-timeout"],
                          max_attempts=options["max-attempts"])
    limits = Limits(max_bytes=options["max-upload"], max_pixels=options["max-pixels"])
    api = ImagingAPI(store, accounts, scheduler, reactor, data, in_thread, limits,
                     options["system-name"])
    api_port = options["port"]
    fixed_url = options["api-url"]

    def api_url(host: str) -> str:
        if fixed_url:
            return fixed_url.rstrip("/")
        return f"http://{'[' + host + ']' if ':' in host else host}:{api_port}"

    loopback = ("127.0.0.1", "localhost", "::1")
    if (options["interface"] in loopback and options["controller-interface"] not in loopback
            and not fixed_url):
        log.warn("the API listens on {interface} only: workers on other machines will not "
                 "reach it (use --interface 0.0.0.0 or --api-url)",
                 interface=options["interface"])
    proofs = Tokens(options["proof-secret"], reactor) if options["proof-secret"] else None
    if proofs is None:
        log.warn("no worker secret (--secret or $HERD_SECRET): any worker may subscribe")
    top = MultiService()
    ImagingService(reactor, accounts, store, registry, scheduler,
                   Path(options["users"]) if options["users"] else None).setServiceParent(top)
    site = Site(api.resource(), parsePOSTFormSubmission=False)
    site.requestFactory = limited_request(options["max-upload"] + 256 * 1024)
    site.noisy = False
    internet.TCPServer(api_port, site, interface=options["interface"]).setServiceParent(top)
    factory = WorkerConnectionFactory(registry, api_url, options["report-interval"], proofs)
    internet.TCPServer(options["controller-port"], factory,
                       interface=options["controller-interface"]).setServiceParent(top)
    return top
