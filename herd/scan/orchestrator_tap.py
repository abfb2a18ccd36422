"""``twistd orchestrator``: the scan pool's UDP orchestrator, wired to the reactor."""

from __future__ import annotations

from functools import partial

from twisted.application import internet
from twisted.application.service import IService, MultiService
from twisted.python import usage

from herd.core.options import positive_float, positive_int, port_number
from herd.scan.orchestrator import Orchestrator
from herd.scan.udp import OrchestratorProtocol
from herd.scan.worker_client import check_on_worker


class Options(usage.Options):
    """Command line of ``twistd orchestrator``."""

    synopsis = "[--port 54000] [--interface ADDRESS] [options]"
    longdesc = (
        "Queue CHECK requests received over UDP and dispatch them to the registered workers "
        "over TCP. Replies and messages are described in herd's README."
    )
    optParameters = [
        ["port", "p", 54000, "UDP port to listen on.", port_number],
        ["interface", "i", "", "Address to listen on (default: all)."],
        ["job-timeout", None, 60.0, "Seconds to wait for a worker's result.", positive_float],
        ["connect-timeout", None, 5.0, "Seconds to wait for a worker's TCP connection.", positive_float],
        ["max-attempts", None, 3, "Workers tried for one job before it fails.", positive_int],
    ]


def makeService(options: Options) -> IService:
    """The orchestrator and its UDP port, as one service."""
    from twisted.internet import reactor

    check = partial(
        check_on_worker,
        reactor,
        timeout=options["job-timeout"],
        connect_timeout=options["connect-timeout"],
    )
    orchestrator = Orchestrator(check, reactor, max_attempts=options["max-attempts"])
    top = MultiService()
    orchestrator.setServiceParent(top)
    udp = internet.UDPServer(
        options["port"], OrchestratorProtocol(orchestrator.handle), interface=options["interface"]
    )
    udp.setServiceParent(top)
    return top
