from twisted.application.service import ServiceMaker

imaging_worker = ServiceMaker(
    "herd imaging-worker", "herd.imaging.worker.tap",
    "imaging: a worker that filters images for the controller", "imaging-worker")
