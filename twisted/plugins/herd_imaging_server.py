from twisted.application.service import ServiceMaker

imaging = ServiceMaker(
    "herd imaging", "herd.imaging.controller.tap",
    "imaging: the REST API, controller and scheduler (one process)", "imaging")
