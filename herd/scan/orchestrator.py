"""The orchestrator: it keeps the pool, queues CHECK jobs, dispatches them and records results.

This module decides; it does no I/O of its own. Requests arrive already parsed (see
``herd.scan.udp``), replies leave as bytes, and a job is run on a worker through the
injected ``check`` callable (``herd.scan.worker_client.check_on_worker`` in production).
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from typing import Callable, Optional

from attrs import define, frozen
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from herd.protocols.scan import (
    CheckRequest,
    HitsRequest,
    RegisterRequest,
    Request,
    StatusRequest,
)
from herd.protocols.scan_replies import (
    Failed,
    Found,
    Hit,
    NotFound,
    Result,
    WorkerStatus,
    format_error,
    format_hits,
    format_ok,
    format_status,
)
from herd.scan.queue import DispatchQueue, WorkerFailed
from herd.scan.snapshot import HitView, PoolSnapshot, WorkerView

Checker = Callable[[str, int, CheckRequest], "Deferred[Result]"]
"""Run one CHECK on the worker at (host, port); fails if the worker cannot answer."""

IDLE, BUSY, UNREACHABLE = "idle", "busy", "unreachable"


@define
class Job:
    """A queued CHECK request."""

    job_id: int
    request: CheckRequest
    submitted: float
    attempts: int = 0
    started: Optional[float] = None


@define
class WorkerRecord:
    """What the orchestrator knows of one worker."""

    worker_id: str
    host: str
    port: int
    registered: float
    state: str = IDLE
    last_sent: Optional[float] = None
    last_result: Optional[float] = None
    jobs_done: int = 0

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            self.worker_id,
            self.host,
            self.port,
            self.last_sent,
            self.last_result,
            self.state,
            self.jobs_done,
        )


@frozen
class JobResult:
    """The outcome of one job, as recorded."""

    job_id: int
    worker_id: Optional[str]
    request: CheckRequest
    result: Result
    finished: float


class Orchestrator(Service):
    """Queue CHECK jobs, hand them to idle workers, record what they answer."""

    log = Logger()

    def __init__(
        self,
        check: Checker,
        clock: IReactorTime,
        max_attempts: int = 3,
        history: int = 10_000,
    ) -> None:
        self._check = check
        self._clock = clock
        self.max_attempts = max_attempts
        self.workers: dict[str, WorkerRecord] = {}
        self.queue: DispatchQueue[Job, str] = DispatchQueue(self._run)
        self.results: deque[JobResult] = deque(maxlen=history)
        self.hits: deque[Hit] = deque(maxlen=100)
        self.counts: Counter[str] = Counter()
        self._job_ids = itertools.count(1)

    def snapshot(self) -> PoolSnapshot:
        """The pool as it is now, for the dashboard and the metrics."""
        running = self.queue.running()
        workers = tuple(
            WorkerView(
                w.worker_id, w.host, w.port, w.state, w.last_sent, w.last_result, None,
                1 if w.worker_id in running else 0, 1, w.jobs_done,
            )
            for w in sorted(self.workers.values(), key=_by_id)
        )
        hits = tuple(
            HitView(0, h.worker_id, h.site_id, h.ad_id, "", h.fetched, h.folder) for h in self.hits
        )
        return PoolSnapshot(
            self._clock.seconds(), workers, self.queue.depth, len(running), hits, (),
            dict(self.counts),
        )

    def handle(self, request: Request) -> bytes:
        """Act on one parsed request and return the reply datagram."""
        if isinstance(request, CheckRequest):
            return format_ok(self.submit(request).job_id)
        if isinstance(request, RegisterRequest):
            self.register(request)
            return format_ok()
        if isinstance(request, StatusRequest):
            statuses = [w.status() for w in sorted(self.workers.values(), key=_by_id)]
            return format_status(statuses, request.page, self.queue.depth)
        if isinstance(request, HitsRequest):
            return format_hits(itertools.islice(self.hits, request.count))
        return format_error(f"unsupported request {type(request).__name__}")

    def submit(self, request: CheckRequest) -> Job:
        """Queue a CHECK job; it is dispatched as soon as a worker is idle."""
        job = Job(next(self._job_ids), request, self._clock.seconds())
        self.log.info(
            "queued job {job_id}: {url} {ad_id} {site_id}",
            job_id=job.job_id,
            url=request.url,
            ad_id=request.ad_id,
            site_id=request.site_id,
        )
        self.queue.submit(job)
        return job

    def register(self, request: RegisterRequest) -> None:
        """Add a worker, or refresh the one with the same identifier."""
        for other in [
            w
            for w in self.workers.values()
            if (w.host, w.port) == (request.host, request.port)
            and w.worker_id != request.worker_id
        ]:
            self.log.info(
                "worker {new} replaces {old} at {host}:{port}",
                new=request.worker_id,
                old=other.worker_id,
                host=other.host,
                port=other.port,
            )
            del self.workers[other.worker_id]
            self.queue.worker_gone(other.worker_id)
        record = self.workers.get(request.worker_id)
        if record is None:
            record = WorkerRecord(
                request.worker_id, request.host, request.port, self._clock.seconds()
            )
            self.workers[record.worker_id] = record
            self.log.info(
                "worker {worker_id} registered at {host}:{port}",
                worker_id=record.worker_id,
                host=record.host,
                port=record.port,
            )
        else:
            if record.state == UNREACHABLE:
                self.log.info("worker {worker_id} is back", worker_id=record.worker_id)
            record.host, record.port = request.host, request.port
            record.registered = self._clock.seconds()
        if record.state != BUSY:
            record.state = IDLE
        self.queue.worker_idle(record.worker_id)

    def _run(self, job: Job, worker_id: str) -> "Deferred[None]":
        record = self.workers[worker_id]
        record.state = BUSY
        record.last_sent = job.started = self._clock.seconds()
        job.attempts += 1
        self.log.info(
            "dispatched job {job_id} to {worker_id} (attempt {attempt})",
            job_id=job.job_id,
            worker_id=worker_id,
            attempt=job.attempts,
        )
        d = self._check(record.host, record.port, job.request)
        d.addCallbacks(self._answered, self._unanswered, (job, record), None, (job, record))
        return d

    def _answered(self, result: Result, job: Job, record: WorkerRecord) -> None:
        record.last_result = self._clock.seconds()
        record.jobs_done += 1
        if record.state == BUSY:
            record.state = IDLE
        self._record(job, record.worker_id, result)

    def _unanswered(self, failure: Failure, job: Job, record: WorkerRecord) -> None:
        record.state = UNREACHABLE
        reason = failure.getErrorMessage() or failure.type.__name__
        self.log.warn(
            "worker {worker_id} did not answer job {job_id}: {reason}; "
            "it gets no job until it registers again",
            worker_id=record.worker_id,
            job_id=job.job_id,
            reason=reason,
        )
        if job.attempts < self.max_attempts:
            raise WorkerFailed(reason)
        self.queue.worker_gone(record.worker_id)
        self._record(job, None, Failed(f"no worker answered after {job.attempts} attempts"))

    def _record(self, job: Job, worker_id: Optional[str], result: Result) -> None:
        now = self._clock.seconds()
        self.results.append(JobResult(job.job_id, worker_id, job.request, result, now))
        kind = type(result).__name__
        self.counts[kind] += 1
        if isinstance(result, Found) and worker_id is not None:
            fetched = job.started if job.started is not None else now
            self.hits.appendleft(
                Hit(worker_id, job.request.site_id, job.request.ad_id, fetched, result.folder)
            )
        self.log.info(
            "job {job_id} done by {worker_id}: {outcome}",
            job_id=job.job_id,
            worker_id=worker_id,
            outcome=_describe(result),
        )


def _by_id(record: WorkerRecord) -> str:
    return record.worker_id


def _describe(result: Result) -> str:
    if isinstance(result, Found):
        return f"YES {result.site_id} {result.folder}"
    if isinstance(result, NotFound):
        return "NO"
    return f"ERROR {result.reason}"
