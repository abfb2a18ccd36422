"""twistd plugin: ``twistd rm`` (replication)."""

from twisted.application.service import ServiceMaker

herd_replication_rm = ServiceMaker(
    "herd replication rm",
    "herd.replication.rm.tap",
    "The replication manager: membership, roles, recovery and relaunch decisions.",
    "rm",
)
