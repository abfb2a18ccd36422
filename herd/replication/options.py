"""Options shared by the replication components' command lines."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from twisted.application.service import Service
from twisted.python import usage

from herd.replication.cluster import DEFAULT, Cluster, ClusterError, load_cluster
from herd.replication.console import Console


class ClusterOptions(usage.Options):
    """``--cluster FILE`` and ``--logs DIR``, the cluster loaded into ``self["herd"]``."""

    optParameters = [
        ["cluster", "c", str(DEFAULT), "Cluster file (JSON; default: the packaged one)."],
        ["logs", None, None, "Directory for NAME.log (the printed messages) and NAME.pid."],
        ["interface", "i", None, "Address to listen on (default: the cluster file's host)."],
    ]

    def load(self) -> Cluster:
        try:
            self["herd"] = load_cluster(Path(self["cluster"]))
        except ClusterError as error:
            raise usage.UsageError(str(error)) from None
        return self["herd"]

    def console_path(self, name: str) -> Optional[Path]:
        return Path(self["logs"]) / f"{name}.log" if self["logs"] else None


class ConsoleService(Service):
    """Close the console's file when the process stops."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def stopService(self) -> None:
        super().stopService()
        self.console.close()
