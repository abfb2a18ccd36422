"""The worker's end of its AMP connection to the controller.

On connecting it subscribes (name, tags, slots, proof), learns the image store's endpoint
and token, then reports its load every ``report_interval`` seconds. ``RunJob`` calls
answer once the filtered image is uploaded. ``ClientService`` reconnects it (and so
subscribes it again) whenever the connection drops, a restarted controller included.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from herd.imaging.worker.jobs import JobRunner
from herd.imaging.worker.load import LoadSampler
from herd.protocols.imaging import NotSubscribed, Report, RunJob, Subscribe


class ControllerConnection(amp.AMP):
    """One connection to the controller."""

    log = Logger()

    def __init__(self, name: str, tags: list[str], runner: JobRunner, sampler: LoadSampler,
                 clock: IReactorTime, proof: Callable[[], Optional[str]]) -> None:
        super().__init__()
        self._name, self._tags = name, tags
        self._runner = runner
        self._sampler = sampler
        self._clock = clock
        self._proof = proof
        self._reports: Optional[LoopingCall] = None
        self.subscribed: "Deferred[dict]" = Deferred()

    def connectionMade(self) -> None:
        super().connectionMade()
        d = self.callRemote(Subscribe, name=self._name, tags=self._tags,
                            slots=self._runner.capacity, proof=self._proof())
        d.addCallbacks(self._subscribed, self._refused)

    def _subscribed(self, answer: dict) -> dict:
        self._runner.use_store(answer["image_store_endpoint"], answer["image_store_token"])
        self.log.info("subscribed as {name}; image store {endpoint}", name=self._name,
                      endpoint=answer["image_store_endpoint"])
        self._reports = LoopingCall(self._report)
        self._reports.clock = self._clock
        self._reports.start(answer["report_interval"], now=True).addErrback(
            lambda f: self.log.failure("load reports stopped", f))
        self.subscribed.callback(answer)
        return answer

    def _refused(self, failure: Failure) -> None:
        self.log.error("subscription refused: {why}", why=failure.getErrorMessage())
        self.transport.loseConnection()

    def _report(self) -> "Deferred[object]":
        d = self.callRemote(Report, **self._sampler.sample())
        return d.addErrback(lambda f: self.log.info("report not sent: {why}",
                                                    why=f.getErrorMessage()))

    @RunJob.responder
    def run_job(self, job_id: str, workload_id: str, image_id: str, filter: str) -> "Deferred[dict]":
        if not self._runner.token:
            raise NotSubscribed("not subscribed yet")
        d = Deferred.fromCoroutine(self._runner.run(job_id, workload_id, image_id, filter))
        return d.addCallback(lambda image: {"filtered_image_id": image})

    def connectionLost(self, reason: Failure) -> None:
        if self._reports is not None and self._reports.running:
            self._reports.stop()
        self.log.info("connection to the controller lost: {why}", why=reason.getErrorMessage())
        super().connectionLost(reason)


class ControllerConnectionFactory(Factory):
    """Builds the connection for ``ClientService``."""

    noisy = False

    def __init__(self, *args: object) -> None:
        self._args = args

    def buildProtocol(self, addr: object) -> ControllerConnection:
        return ControllerConnection(*self._args)  # type: ignore[arg-type]
