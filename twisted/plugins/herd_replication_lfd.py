"""twistd plugin: ``twistd lfd`` (replication)."""

from twisted.application.service import ServiceMaker

herd_replication_lfd = ServiceMaker(
    "herd replication lfd",
    "herd.replication.lfd.tap",
    "A local fault detector: launches, heartbeats and relaunches its replica.",
    "lfd",
)
