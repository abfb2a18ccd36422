"""twistd plugin: ``twistd replica`` (a replica of herd's replicated counter)."""

from twisted.application.service import ServiceMaker

herd_replication_replica = ServiceMaker(
    "herd replication replica",
    "herd.replication.replica.tap",
    "A replica of the replicated counter (active or passive, as the RM says).",
    "replica",
)
