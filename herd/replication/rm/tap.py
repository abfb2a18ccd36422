"""``twistd rm --mode active|passive`` (or the seed's ``rm IP MODE``)."""

from __future__ import annotations

from twisted.application import internet
from twisted.application.service import IService, MultiService
from twisted.python import usage

from herd.replication.cluster import RM
from herd.replication.connection import MessageFactory
from herd.replication.console import stdout_console
from herd.replication.options import ClusterOptions, ConsoleService
from herd.replication.rm.manager import Manager

MODES = ("active", "passive")


class Options(ClusterOptions):
    """Command line of ``twistd rm``."""

    synopsis = "--mode active|passive [--cluster FILE] [--logs DIR] | [IP] MODE"
    longdesc = "Run the replication manager: membership, primary, recovery and relaunch."
    optParameters = [["mode", "m", None, "active or passive."]]

    def parseArgs(self, *args: str) -> None:
        if len(args) > 2:
            raise usage.UsageError("at most IP MODE")
        for arg in args:
            if arg in MODES:
                self["mode"] = arg
            else:
                self["interface"] = arg

    def postOptions(self) -> None:
        if self["mode"] not in MODES:
            raise usage.UsageError("--mode must be active or passive")
        self.load()


def makeService(options: Options) -> IService:
    """The RM's port, for the GFD and the clients."""
    from twisted.internet import reactor

    cluster = options["herd"]
    console = stdout_console(reactor, options.console_path(RM))
    manager = Manager(cluster, console, options["mode"])
    top = MultiService()
    ConsoleService(console).setServiceParent(top)
    internet.TCPServer(cluster.rm.port, MessageFactory(manager, reactor, idle=10.0),
                       interface=options["interface"] or cluster.rm.host).setServiceParent(top)
    return top
