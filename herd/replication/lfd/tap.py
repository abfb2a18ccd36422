"""``twistd lfd --name LFD1 --heartbeat-freq S`` (or the seed's ``lfd FREQ LFD1 S1 ...``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from twisted.application.service import IService, MultiService, Service
from twisted.python import usage

from herd.core.launcher import Launcher, twistd_command
from herd.core.links import Link
from herd.core.options import positive_float
from herd.replication.connection import MessageConnection
from herd.replication.console import stdout_console
from herd.replication.lfd.detector import LocalDetector
from herd.replication.options import ClusterOptions, ConsoleService


class Options(ClusterOptions):
    """Command line of ``twistd lfd``."""

    synopsis = ("--name LFD1 [--heartbeat-freq S] [--cluster FILE] [--logs DIR] "
                "| FREQ LFD1 [S1 [HOST:PORT [GFD_HOST:PORT]]]")
    longdesc = ("Run a local fault detector: launch its replica (twistd replica), heartbeat "
                "it, report it to the GFD and relaunch it when the RM says so.")
    optFlags = [["no-launch", None, "Watch a replica started by someone else."]]
    optParameters = [
        ["name", "n", None, "LFD name (LFD1, LFD2, LFD3 by default)."],
        ["heartbeat-freq", "f", 1.0, "Seconds between heartbeats.", positive_float],
        ["checkpoint-freq", None, 10.0, "Passed on to the replica.", positive_float],
        ["ack-timeout", None, 3.0, "Passed on to the replica.", positive_float],
    ]

    def parseArgs(self, *args: str) -> None:
        if len(args) > 5:
            raise usage.UsageError("at most FREQ LFD_NAME SERVER_NAME SERVER_ADDR GFD_ADDR")
        if args:
            self["heartbeat-freq"] = positive_float(args[0])
        if len(args) > 1:
            self["name"] = args[1]
        self._server = args[2] if len(args) > 2 else None

    def postOptions(self) -> None:
        cluster = self.load()
        if self["name"] not in cluster.lfds:
            raise usage.UsageError(f"--name must be an LFD of the cluster: "
                                   f"{', '.join(sorted(cluster.lfds))}")
        if self._server is not None and cluster.lfds[self["name"]] != self._server:
            raise usage.UsageError(f"{self['name']} watches {cluster.lfds[self['name']]}, "
                                   f"not {self._server}, in the cluster file")


class ReplicaProcess:
    """The LFD's replica, one process at a time, through herd's launcher.

    ``start`` launches it, or kills the running one first (the RM declared it dead, so it
    hangs) and launches the new one once the old is gone. Its pid goes to its pid file at
    every launch. The launcher's trampoline makes the replica die with its LFD.
    """

    def __init__(self, launcher: Launcher, name: str, argv: list[str], output: Path,
                 pidfile: Optional[Path]) -> None:
        self.launcher, self.name, self.argv = launcher, name, argv
        self.output, self.pidfile = output, pidfile

    def start(self) -> None:
        child = self.launcher.children.get(self.name)
        if child is not None and child.running:
            self.launcher.stop(self.name, grace=0).addCallback(lambda _: self._spawn())
        else:
            self._spawn()

    def running(self) -> bool:
        child = self.launcher.children.get(self.name)
        return child is not None and child.running

    def _spawn(self) -> None:
        child = self.launcher.spawn(self.name, self.argv, output=self.output)
        if self.pidfile is not None:
            self.pidfile.write_text(f"{child.pid}\n")


class _Run(Service):
    def __init__(self, lfd: LocalDetector) -> None:
        self.lfd = lfd

    def startService(self) -> None:
        super().startService()
        self.lfd.start()

    def stopService(self) -> None:
        super().stopService()
        self.lfd.stop()


def replica_argv(options: Options, replica: str) -> list[str]:
    """How the LFD starts its replica."""
    logs = options["logs"]
    twistd_log = str(Path(logs) / "twistd" / f"{replica}.log") if logs else "-"
    if logs:
        (Path(logs) / "twistd").mkdir(parents=True, exist_ok=True)
    argv = [*twistd_command(), "-n", "--pidfile=", f"--logfile={twistd_log}", "replica",
            "--name", replica, "--cluster", str(Path(options["cluster"]).resolve()),
            "--checkpoint-freq", str(options["checkpoint-freq"]),
            "--ack-timeout", str(options["ack-timeout"])]
    if logs:
        argv += ["--logs", str(Path(logs).resolve())]
    return argv


def makeService(options: Options) -> IService:
    """The LFD, its links to its replica and to the GFD, and its replica's process."""
    from twisted.internet import reactor

    name, cluster = options["name"], options["herd"]
    replica = cluster.lfds[name]
    console = stdout_console(reactor, options.console_path(name))
    logs = Path(options["logs"]) if options["logs"] else None
    launcher = Launcher(reactor, logs / "twistd" if logs else Path("."),
                        on_exit=lambda child, status: lfd.exited(f"exit status {status}",
                                                                 expected=child.stopping))
    process = ReplicaProcess(
        launcher, replica, replica_argv(options, replica),
        logs / "twistd" / f"{replica}.out" if logs else Path(os.devnull),
        logs / f"{replica}.pid" if logs else None)
    lfd = LocalDetector(name, cluster, reactor, console, options["heartbeat-freq"],
                        launch=None if options["no-launch"] else process.start,
                        running=process.running)
    top = MultiService()
    ConsoleService(console).setServiceParent(top)
    launcher.setServiceParent(top)
    _Run(lfd).setServiceParent(top)
    where = cluster.replicas[replica]
    retry = min(options["heartbeat-freq"], 1.0)
    Link(reactor, replica, where.host, where.port,
         lambda link: MessageConnection(lfd, link=link),
         on_up=lfd.replica_up, on_down=lambda reason: lfd.replica_down(),
         initial_delay=min(0.1, retry), max_delay=retry).setServiceParent(top)
    Link(reactor, "GFD", cluster.gfd.host, cluster.gfd.port,
         lambda link: MessageConnection(lfd, link=link),
         on_up=lfd.gfd_up, on_down=lambda reason: lfd.gfd_down(),
         initial_delay=0.1, max_delay=1.0).setServiceParent(top)
    return top
