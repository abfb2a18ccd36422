"""``twistd gfd --heartbeat-freq S`` (or the seed's ``gfd IP FREQ``)."""

from __future__ import annotations

from twisted.application import internet
from twisted.application.service import IService, MultiService, Service
from twisted.python import usage

from herd.core.links import Link
from herd.core.options import positive_float
from herd.replication.cluster import GFD, RM
from herd.replication.connection import MessageConnection, MessageFactory
from herd.replication.console import stdout_console
from herd.replication.gfd.detector import GlobalDetector
from herd.replication.options import ClusterOptions, ConsoleService


class Options(ClusterOptions):
    """Command line of ``twistd gfd``."""

    synopsis = "[--heartbeat-freq S] [--cluster FILE] [--logs DIR] | [IP [FREQ]]"
    longdesc = "Run the global fault detector: heartbeat the LFDs, report membership to the RM."
    optParameters = [["heartbeat-freq", "f", 1.0, "Seconds between heartbeats to the LFDs.",
                      positive_float]]

    def parseArgs(self, *args: str) -> None:
        if len(args) > 2:
            raise usage.UsageError("at most IP HEARTBEAT_FREQ")
        if args:
            self["interface"] = args[0]
        if len(args) > 1:
            self["heartbeat-freq"] = positive_float(args[1])

    def postOptions(self) -> None:
        self.load()


class _Run(Service):
    def __init__(self, gfd: GlobalDetector) -> None:
        self.gfd = gfd

    def startService(self) -> None:
        super().startService()
        self.gfd.start()

    def stopService(self) -> None:
        super().stopService()
        self.gfd.stop()


def makeService(options: Options) -> IService:
    """The GFD's port for the LFDs and its link to the RM."""
    from twisted.internet import reactor

    cluster = options["herd"]
    console = stdout_console(reactor, options.console_path(GFD))
    gfd = GlobalDetector(cluster, reactor, console, options["heartbeat-freq"])
    top = MultiService()
    ConsoleService(console).setServiceParent(top)
    _Run(gfd).setServiceParent(top)
    internet.TCPServer(cluster.gfd.port, MessageFactory(gfd, reactor),
                       interface=options["interface"] or cluster.gfd.host).setServiceParent(top)
    Link(reactor, RM, cluster.rm.host, cluster.rm.port,
         lambda link: MessageConnection(gfd, link=link),
         on_up=gfd.rm_up, on_down=lambda reason: gfd.rm_down(),
         initial_delay=0.1, max_delay=1.0).setServiceParent(top)
    return top
