"""The imaging wire between the controller and its workers: AMP commands, nothing else.

Each command is a declaration (argument names and types, answer, errors); no state and no
I/O. AMP values are at most 65,535 bytes, so only ids, names and URLs travel here: the
images themselves go through the HTTP API, as the specification asks.

Worker -> controller:
  ``Subscribe``  name, tags, slots, proof -> image-store endpoint, token, report interval
  ``Report``     cpu %, memory %, running jobs, GPU % (negative: none) -> {}
Controller -> worker:
  ``RunJob``     job id, workload id, image id, filter -> filtered image id (when done)
"""

from __future__ import annotations

from twisted.protocols import amp


class NotAllowed(Exception):
    """The controller refused the subscription (bad proof, name already connected)."""


class NotSubscribed(Exception):
    """A report or job before ``Subscribe``."""


class WorkerBusy(Exception):
    """The worker already runs as many jobs as it has slots."""


class JobFailed(Exception):
    """The job could not be done (the image could not be read, filtered or uploaded)."""


class Subscribe(amp.Command):
    """A worker joins: its name, tags and how many jobs it runs at once."""

    arguments = [
        (b"name", amp.Unicode()),
        (b"tags", amp.ListOf(amp.Unicode())),
        (b"slots", amp.Integer()),
        (b"proof", amp.Unicode(optional=True)),
    ]
    response = [
        (b"image_store_endpoint", amp.Unicode()),
        (b"image_store_token", amp.Unicode()),
        (b"report_interval", amp.Float()),
    ]
    errors = {NotAllowed: b"NOT_ALLOWED"}


class Report(amp.Command):
    """A worker's load, every ``report_interval`` seconds; also its heartbeat."""

    arguments = [
        (b"cpu", amp.Float()),
        (b"memory", amp.Float()),
        (b"running_jobs", amp.Integer()),
        (b"gpu", amp.Float()),
    ]
    response: list = []
    errors = {NotSubscribed: b"NOT_SUBSCRIBED"}


class RunJob(amp.Command):
    """Filter one original image; answered once the filtered image is uploaded."""

    arguments = [
        (b"job_id", amp.Unicode()),
        (b"workload_id", amp.Unicode()),
        (b"image_id", amp.Unicode()),
        (b"filter", amp.Unicode()),
    ]
    response = [(b"filtered_image_id", amp.Unicode())]
    errors = {WorkerBusy: b"WORKER_BUSY", JobFailed: b"JOB_FAILED", NotSubscribed: b"NOT_SUBSCRIBED"}


NO_GPU = -1.0
"""The ``gpu`` value of a worker that has no GPU to report."""
