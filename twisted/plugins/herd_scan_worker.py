"""twistd plugin: ``twistd worker`` (herd's scan pool worker)."""

from twisted.application.service import ServiceMaker

herd_worker = ServiceMaker(
    "herd scan worker",
    "herd.scan.worker.tap",
    "TCP worker of the herd scan pool: scans pages for an ad string, saves their images.",
    "worker",
)
