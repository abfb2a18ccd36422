"""The controller's end of a worker's AMP connection: thin, the registry decides.

``Subscribe`` checks the worker's proof (an HMAC token over its name from
``herd.core.tokens``, when the controller has a shared secret), registers it and answers
with the API endpoint as seen from the worker's side of this connection and a worker
token; ``Report`` is its heartbeat; ``run_job`` calls ``RunJob`` on the worker.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from herd.core.tokens import TokenError, Tokens
from herd.imaging.controller.registry import WorkerRegistry
from herd.imaging.model import Job
from herd.protocols.imaging import NO_GPU, NotAllowed, NotSubscribed, Report, RunJob, Subscribe


class WorkerConnection(amp.AMP):
    """One worker, seen from the controller."""

    log = Logger()

    def __init__(self, registry: WorkerRegistry, api_url: Callable[[str], str],
                 report_interval: float, proofs: Optional[Tokens]) -> None:
        super().__init__()
        self._registry = registry
        self._api_url = api_url
        self._interval = report_interval
        self._proofs = proofs
        self.name: Optional[str] = None

    @Subscribe.responder
    def subscribe(self, name: str, tags: list[str], slots: int,
                  proof: Optional[str] = None) -> dict:
        if self.name is not None:
            raise NotAllowed("already subscribed as " + self.name)
        if self._proofs is not None:
            try:
                self._proofs.check(name.encode("utf-8"), proof)
            except TokenError as error:
                raise NotAllowed(f"worker proof refused: {error}") from None
        peer = self.transport.getPeer()
        try:
            token = self._registry.join(name, tags, slots, self, f"{peer.host}:{peer.port}")
        except ValueError as error:
            raise NotAllowed(str(error)) from None
        self.name = name
        return {"image_store_endpoint": self._api_url(self.transport.getHost().host),
                "image_store_token": token, "report_interval": self._interval}

    @Report.responder
    def report(self, cpu: float, memory: float, running_jobs: int, gpu: float) -> dict:
        if self.name is None:
            raise NotSubscribed("subscribe first")
        try:
            self._registry.report(self.name, cpu, memory, running_jobs,
                                  None if gpu <= NO_GPU else gpu)
        except KeyError:  # declared dead; the connection is being cut
            raise NotSubscribed(f"{self.name} is no longer subscribed") from None
        return {}

    def run_job(self, job: Job) -> "Deferred[str]":
        """Ask the worker to filter ``job``'s image; fires with the filtered image id."""
        d = self.callRemote(RunJob, job_id=job.id, workload_id=job.workload_id,
                            image_id=job.image_id, filter=job.filter)
        return d.addCallback(lambda answer: answer["filtered_image_id"])

    def drop(self) -> None:
        """Cut the connection (a worker declared dead)."""
        if self.transport is not None:
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure) -> None:
        if self.name is not None:
            self._registry.leave(self.name, self)
        super().connectionLost(reason)


class WorkerConnectionFactory(Factory):
    """Builds a ``WorkerConnection`` per worker."""

    noisy = False

    def __init__(self, registry: WorkerRegistry, api_url: Callable[[str], str],
                 report_interval: float, proofs: Optional[Tokens]) -> None:
        self._args = (registry, api_url, report_interval, proofs)

    def buildProtocol(self, addr: object) -> WorkerConnection:
        return WorkerConnection(*self._args)
