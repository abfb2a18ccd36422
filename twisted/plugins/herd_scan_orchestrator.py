"""twistd plugin: ``twistd orchestrator`` (herd's scan pool orchestrator)."""

from twisted.application.service import ServiceMaker

herd_scan_orchestrator = ServiceMaker(
    "herd scan orchestrator",
    "herd.scan.orchestrator.tap",
    "UDP orchestrator of the herd scan pool: queues CHECK jobs for TCP workers.",
    "orchestrator",
)
