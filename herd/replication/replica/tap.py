"""``twistd replica --name S1 [--checkpoint-freq S]`` (or the seed's ``replica S1 IP FREQ``)."""

from __future__ import annotations

from twisted.application import internet
from twisted.application.service import IService, MultiService, Service
from twisted.python import usage

from herd.core.links import Link
from herd.core.options import positive_float
from herd.replication.connection import MessageConnection, MessageFactory
from herd.replication.console import stdout_console
from herd.replication.options import ClusterOptions, ConsoleService
from herd.replication.replica.server import Replica


class Options(ClusterOptions):
    """Command line of ``twistd replica``."""

    synopsis = "--name S1 [--cluster FILE] [--checkpoint-freq SECONDS] | S1 [IP [FREQ]]"
    longdesc = ("Run replica NAME of the replicated counter: answer clients, its LFD's "
                "heartbeats and the other replicas on the port the cluster file gives it.")
    optParameters = [
        ["name", "n", None, "Replica name (S1, S2, S3 by default)."],
        ["checkpoint-freq", "f", 10.0, "Seconds between a passive primary's checkpoints.",
         positive_float],
        ["ack-timeout", None, 3.0, "Seconds a primary waits for a backup's ack.", positive_float],
    ]

    def parseArgs(self, *args: str) -> None:
        if len(args) > 3:
            raise usage.UsageError("at most NAME IP CHECKPOINT_FREQ")
        if args:
            self["name"] = args[0]
        if len(args) > 1:
            self["interface"] = args[1]
        if len(args) > 2:
            self["checkpoint-freq"] = positive_float(args[2])

    def postOptions(self) -> None:
        cluster = self.load()
        if self["name"] not in cluster.replicas:
            raise usage.UsageError(f"--name must be a replica of the cluster: "
                                   f"{', '.join(sorted(cluster.replicas))}")


class _Stop(Service):
    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    def stopService(self) -> None:
        super().stopService()
        self.replica.stop()


def makeService(options: Options) -> IService:
    """The replica's port and its links to the other replicas."""
    from twisted.internet import reactor

    name, cluster = options["name"], options["herd"]
    console = stdout_console(reactor, options.console_path(name))
    replica = Replica(name, cluster, reactor, console, options["checkpoint-freq"],
                      ack_timeout=options["ack-timeout"])
    top = MultiService()
    ConsoleService(console).setServiceParent(top)
    _Stop(replica).setServiceParent(top)
    address = cluster.replicas[name]
    interface = options["interface"] or address.host
    internet.TCPServer(address.port, MessageFactory(replica, reactor), interface=interface
                       ).setServiceParent(top)
    for other, where in sorted(cluster.replicas.items()):
        if other == name:
            continue
        Link(reactor, other, where.host, where.port,
             lambda link: MessageConnection(replica, link=link),
             on_up=lambda conn, other=other: replica.peer_up(other, conn),
             on_down=lambda reason, other=other: replica.peer_down(other),
             initial_delay=0.1, max_delay=0.5).setServiceParent(top)
    return top
