"""twistd plugin: ``twistd gfd`` (replication)."""

from twisted.application.service import ServiceMaker

herd_replication_gfd = ServiceMaker(
    "herd replication gfd",
    "herd.replication.gfd.tap",
    "The global fault detector: watches the LFDs, reports membership to the RM.",
    "gfd",
)
