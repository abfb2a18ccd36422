"""``twistd -n imaging-worker --controller HOST:PORT --worker-name NAME [--tags a,b]``."""

from __future__ import annotations

import os
from functools import partial

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.threads import deferToThreadPool
from twisted.python import usage

from herd.core.http import http_client
from herd.core.options import positive_float, positive_int
from herd.core.tokens import Tokens, load_secret
from herd.imaging.model import parse_tags
from herd.imaging.worker.connection import ControllerConnectionFactory
from herd.imaging.worker.jobs import JobRunner
from herd.imaging.worker.load import LoadSampler


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise usage.UsageError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def nonnegative_int(text: str) -> int:
    """An integer from 0 up."""
    if not str(text).strip().isdigit():
        raise usage.UsageError(f"must be an integer >= 0: {text!r}")
    return int(text)


class Options(usage.Options):
    """Command line of ``twistd imaging-worker`` (the seed's flags)."""

    synopsis = "--controller HOST:PORT --worker-name NAME [--tags a,b] [options]"
    optParameters = [
        ["controller", "c", None, "Controller address, HOST:PORT."],
        ["worker-name", "n", None, "This worker's name (unique among live workers)."],
        ["tags", "t", "", "Comma-separated tags (workloads with tags run only on workers "
         "carrying all of them)."],
        ["slots", "s", os.cpu_count() or 1, "Images filtered at once.", positive_int],
        ["prefetch", None, 1, "Jobs accepted beyond --slots (downloading while filtering).",
         nonnegative_int],
        ["secret", None, None, "File with the controller's worker secret "
         "(default: $HERD_SECRET)."],
        ["http-timeout", None, 60.0, "Seconds for one download or upload.", positive_float],
        ["max-retry", None, 5.0, "Longest wait between reconnections.", positive_float],
    ]

    def postOptions(self) -> None:
        if not self["controller"]:
            raise usage.UsageError("--controller HOST:PORT is required")
        if not self["worker-name"]:
            raise usage.UsageError("--worker-name is required")
        self["address"] = host_port(self["controller"])
        self["tag-list"] = list(parse_tags(self["tags"]))
        try:
            self["proof-secret"] = load_secret(self["secret"])
        except ValueError as error:
            raise usage.UsageError(str(error)) from None


def makeService(options: Options) -> IService:
    """The worker's connection to the controller, kept up with ClientService."""
    from twisted.internet import reactor

    in_thread = partial(deferToThreadPool, reactor, reactor.getThreadPool())
    runner = JobRunner(http_client(reactor, connect_timeout=10), in_thread, options["slots"],
                       timeout=options["http-timeout"], prefetch=options["prefetch"])
    name = options["worker-name"]
    secret = options["proof-secret"]
    proofs = Tokens(secret, reactor) if secret else None

    def proof() -> str | None:
        return proofs.make(name.encode("utf-8")) if proofs else None

    factory = ControllerConnectionFactory(name, options["tag-list"], runner,
                                          LoadSampler(lambda: runner.running), reactor, proof)
    host, port = options["address"]
    top = MultiService()
    ClientService(HostnameEndpoint(reactor, host, port, timeout=10), factory,
                  retryPolicy=backoffPolicy(initialDelay=0.3, maxDelay=options["max-retry"]),
                  clock=reactor).setServiceParent(top)
    return top
