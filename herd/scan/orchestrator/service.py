"""The orchestrator: it keeps the pool, queues CHECK jobs, dispatches them and records results.

This module decides; its only I/O is the SQLite ``Store``. Requests arrive already parsed
(see ``herd.scan.orchestrator.connection``) with the sender's address, replies leave as bytes, and a job is run
on a worker through the injected ``check`` callable
(``herd.scan.orchestrator.worker_connection.check_on_worker`` in production).

Nothing acknowledged is lost: a CHECK is answered ``200 OK <id>`` only once the job is
committed, a job whose worker fails goes back to the front of the queue (up to
``max_attempts``, then to the dead-letter list), and after a restart every queued or
running job is queued again.
"""

from __future__ import annotations

import sqlite3
from typing import Callable, Optional, Union

from attrs import define, evolve
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from herd.core.allowlist import AllowList
from herd.core.failure import FailureDetector
from herd.core.tokens import TokenError, Tokens
from herd.protocols.scan import (
    CheckRequest,
    DeadRequest,
    HeartbeatRequest,
    HitsRequest,
    JobRequest,
    RegisterRequest,
    Request,
    StatusRequest,
)
from herd.protocols.scan_replies import (
    DeadLetter,
    Found,
    Hit,
    NotFound,
    Result,
    WorkerStatus,
    format_dead,
    format_error,
    format_hits,
    format_job,
    format_ok,
    format_status,
    format_time,
)
from herd.scan.orchestrator.metrics import NoMetrics
from herd.scan.orchestrator.queue import DispatchQueue, WorkerFailed
from herd.scan.orchestrator.snapshot import DeadJob, HitView, PoolSnapshot, WorkerView
from herd.scan.orchestrator.store import Store, StoredJob, StoredWorker

Checker = Callable[[str, int, CheckRequest], "Deferred[Result]"]
"""Run one CHECK on the worker at (host, port); fails if the worker cannot answer."""

IDLE, BUSY, UNREACHABLE, DEAD = "idle", "busy", "unreachable", "dead"
CLIENT_REQUESTS = (CheckRequest, StatusRequest, HitsRequest, JobRequest, DeadRequest)


@define(eq=False)
class Job:
    """A queued or running CHECK job."""

    job_id: int
    request: CheckRequest
    submitted: float


@define
class WorkerRecord:
    """What the orchestrator knows of one worker."""

    worker_id: str
    host: str
    port: int
    capacity: int
    registered: float
    state: str = IDLE
    last_sent: Optional[float] = None
    last_result: Optional[float] = None
    jobs_done: int = 0

    def status(self, running: int) -> WorkerStatus:
        return WorkerStatus(self.worker_id, self.host, self.port, self.last_sent,
                            self.last_result, self.state, self.jobs_done, running, self.capacity)

    def stored(self) -> StoredWorker:
        return StoredWorker(self.worker_id, self.host, self.port, self.capacity,
                            self.registered, self.last_sent, self.last_result, self.jobs_done)


def result_kind(result: Result) -> tuple[str, Optional[str]]:
    """How a result is stored: ``yes`` and the folder, ``no``, or ``error`` and why."""
    if isinstance(result, Found):
        return "yes", result.folder
    if isinstance(result, NotFound):
        return "no", None
    return "error", result.reason


class Orchestrator(Service):
    """Queue CHECK jobs, hand them to workers with free slots, record what they answer."""

    log = Logger()

    def __init__(
        self,
        check: Checker,
        clock: IReactorTime,
        store: Optional[Store] = None,
        max_attempts: int = 3,
        max_queue: int = 10_000,
        heartbeat_timeout: float = 10.0,
        tokens: Optional[Tokens] = None,
        clients: AllowList = AllowList(),
        workers_allowed: AllowList = AllowList(),
        metrics: Optional[NoMetrics] = None,
        group_commit: bool = False,
    ) -> None:
        self._check = check
        self._clock = clock
        self.store = store if store is not None else Store(":memory:")
        self.max_attempts = max_attempts
        self.max_queue = max_queue
        self.tokens = tokens
        self.clients = clients
        self.workers_allowed = workers_allowed
        self.metrics = metrics if metrics is not None else NoMetrics()
        self.workers: dict[str, WorkerRecord] = {}
        self.queue: DispatchQueue[Job, str] = DispatchQueue(self._run)
        self.detector: FailureDetector[str] = FailureDetector(clock, heartbeat_timeout, self._silent)
        self._inflight: dict[str, set[Deferred[Result]]] = {}
        self.group_commit = group_commit
        self._batch: list[tuple[Job, Deferred[bytes]]] = []

    def startService(self) -> None:
        """Load the pool and queue again every job that was not finished."""
        super().startService()
        for stored in self.store.workers():
            self.workers[stored.worker_id] = WorkerRecord(
                stored.worker_id, stored.host, stored.port, stored.capacity, stored.registered,
                UNREACHABLE, stored.last_sent, stored.last_result, stored.jobs_done,
            )
        jobs = self.store.unfinished_jobs()
        for stored_job in jobs:
            self.store.requeue_job(stored_job.job_id)
            self.queue.submit(Job(stored_job.job_id, stored_job.request, stored_job.submitted))
        if jobs or self.workers:
            self.log.info("restarted with {jobs} unfinished jobs and {workers} known workers",
                          jobs=len(jobs), workers=len(self.workers))
        self.detector.start()

    def stopService(self) -> None:
        super().stopService()
        self.detector.stop()

    # -- requests -----------------------------------------------------------------------

    def handle(self, request: Request, sender: str = "127.0.0.1") -> Union[bytes, "Deferred[bytes]"]:
        """Act on one parsed request from ``sender`` (an IP address); the reply datagram
        (a Deferred of it for a CHECK under group commit)."""
        if isinstance(request, CLIENT_REQUESTS):
            if not self.clients.allows(sender):
                self.metrics.on_refused("denied")
                return format_error(f"{sender} is not allowed to use this orchestrator", "403 ERROR")
        elif not self.workers_allowed.allows(sender):
            self.metrics.on_refused("denied")
            return format_error(f"{sender} is not allowed to join this pool", "403 ERROR")
        if isinstance(request, CheckRequest):
            return self.submit(request)
        if isinstance(request, (RegisterRequest, HeartbeatRequest)):
            try:
                if self.tokens is not None:
                    self.tokens.check(request.signed(), request.token)
            except TokenError as error:
                self.log.warn("refused {request} from {sender}: {reason}",
                              request=request.signed().decode(), sender=sender, reason=str(error))
                self.metrics.on_refused("denied")
                return format_error(str(error), "403 ERROR")
            if isinstance(request, RegisterRequest):
                self.register(request)
                return format_ok()
            return self.heartbeat(request)
        if isinstance(request, StatusRequest):
            statuses = [w.status(len(self._inflight.get(w.worker_id, ())))
                        for w in self._workers_in_order()]
            return format_status(statuses, request.page, self.queue.depth)
        if isinstance(request, HitsRequest):
            return format_hits(self.hits(request.count))
        if isinstance(request, JobRequest):
            return self.job_state(request.job_id)
        if isinstance(request, DeadRequest):
            return format_dead([
                DeadLetter(j.job_id, j.request.site_id, j.request.ad_id, j.attempts,
                           j.finished or 0.0, j.detail or "")
                for j in self.store.recent("dead", request.count)
            ])
        return format_error(f"unsupported request {type(request).__name__}")

    def submit(self, request: CheckRequest) -> Union[bytes, "Deferred[bytes]"]:
        """Store and queue a CHECK job; ``503 BUSY`` when the queue is full.

        With ``group_commit``, the jobs received in one reactor turn are committed together
        at the end of the turn, and each is acknowledged (the Deferred fires) only then.
        """
        if self.queue.depth + len(self._batch) >= self.max_queue:
            self.metrics.on_refused("busy")
            return format_error(f"queue full ({self.max_queue} jobs waiting), try again later", "503 BUSY")
        now = self._clock.seconds()
        if not self.group_commit:
            job = Job(self.store.add_job(request, now), request, now)
            self._accept(job)
            return format_ok(job.job_id)
        if not self._batch:
            self.store.begin()
            self._clock.callLater(0, self._commit)
        acknowledged: Deferred[bytes] = Deferred()
        self._batch.append((Job(self.store.add_job(request, now), request, now), acknowledged))
        return acknowledged

    def _commit(self) -> None:
        batch, self._batch = self._batch, []
        try:
            self.store.commit()
        except sqlite3.Error:
            self.log.failure("could not commit {count} job(s); none acknowledged", count=len(batch))
            self.store.rollback()
            for _, acknowledged in batch:
                acknowledged.callback(format_error("the job could not be stored", "500 ERROR"))
            return
        for job, acknowledged in batch:
            self._accept(job)
            acknowledged.callback(format_ok(job.job_id))

    def _accept(self, job: Job) -> None:
        self.metrics.on_acked()
        self.log.debug("queued job {job_id}: {url} {ad_id} {site_id}", job_id=job.job_id,
                       url=job.request.url, ad_id=job.request.ad_id, site_id=job.request.site_id)
        self.queue.submit(job)

    def register(self, request: RegisterRequest) -> None:
        """Add a worker, or refresh the one with the same identifier."""
        now = self._clock.seconds()
        replaced = [w.worker_id for w in self.workers.values()
                    if (w.host, w.port) == (request.host, request.port) and w.worker_id != request.worker_id]
        for old in replaced:
            self.log.info("worker {new} replaces {old} at {host}:{port}", new=request.worker_id,
                          old=old, host=request.host, port=request.port)
            del self.workers[old]
            self.queue.worker_gone(old)
            self.detector.forget(old)
        self.store.delete_workers(replaced)
        record = self.workers.get(request.worker_id)
        if record is None:
            record = WorkerRecord(request.worker_id, request.host, request.port, request.capacity, now)
            self.workers[record.worker_id] = record
            self.log.info("worker {worker_id} registered at {host}:{port} for {capacity} job(s) at once",
                          worker_id=record.worker_id, host=record.host, port=record.port,
                          capacity=record.capacity)
        else:
            record.host, record.port, record.capacity = request.host, request.port, request.capacity
            record.registered = now
        self.store.save_worker(record.stored())
        self._alive(record)

    def heartbeat(self, request: HeartbeatRequest) -> bytes:
        """A worker is alive; ``404 UNKNOWN`` tells one we do not know to register."""
        record = self.workers.get(request.worker_id)
        if record is None:
            return format_error(f"unknown worker {request.worker_id}: REGISTER first", "404 UNKNOWN")
        self._alive(record)
        return format_ok()

    def _alive(self, record: WorkerRecord) -> None:
        self.detector.heard(record.worker_id)
        if record.state in (UNREACHABLE, DEAD):
            self.log.info("worker {worker_id} is back", worker_id=record.worker_id)
        running = len(self._inflight.get(record.worker_id, ()))
        record.state = BUSY if running else IDLE
        self.queue.worker_ready(record.worker_id, record.capacity)

    def _silent(self, worker_id: str) -> None:
        """The failure detector gave up on a worker: no more jobs; its jobs go elsewhere."""
        record = self.workers.get(worker_id)
        if record is None:
            return
        record.state = DEAD
        self.queue.worker_gone(worker_id)
        inflight = list(self._inflight.get(worker_id, ()))
        self.log.warn("worker {worker_id} missed its heartbeats: dead; {count} job(s) requeued",
                      worker_id=worker_id, count=len(inflight))
        for d in inflight:
            d.cancel()

    # -- running jobs -------------------------------------------------------------------

    def _run(self, job: Job, worker_id: str) -> "Deferred[None]":
        record = self.workers[worker_id]
        now = self._clock.seconds()
        record.last_sent = now
        attempt = self.store.start_job(job.job_id, worker_id, now)
        self.metrics.on_dispatched(now - job.submitted)
        self.log.info("dispatched job {job_id} to {worker_id} (attempt {attempt})",
                      job_id=job.job_id, worker_id=worker_id, attempt=attempt)
        request = job.request
        if self.tokens is not None:
            request = evolve(request, token=self.tokens.make(request.signed()))
        d = self._check(record.host, record.port, request)
        self._inflight.setdefault(worker_id, set()).add(d)
        record.state = BUSY
        d.addBoth(self._landed, worker_id, d)
        d.addCallbacks(self._answered, self._unanswered, (job, record), None, (job, record, attempt))
        return d

    def _landed(self, outcome: object, worker_id: str, d: "Deferred[Result]") -> object:
        self._inflight.get(worker_id, set()).discard(d)
        return outcome

    def _answered(self, result: Result, job: Job, record: WorkerRecord) -> None:
        now = self._clock.seconds()
        record.last_result = now
        kind, detail = result_kind(result)
        if not self.store.finish_job(job.job_id, record.worker_id, kind, detail, now):
            self.log.warn("a second result for job {job_id} was ignored", job_id=job.job_id)
            return
        record.jobs_done += 1
        if record.state == BUSY and not self._inflight.get(record.worker_id):
            record.state = IDLE
        self.store.save_worker(record.stored())
        self.metrics.on_finished(kind)
        self.log.info("job {job_id} done by {worker_id}: {kind} {detail}", job_id=job.job_id,
                      worker_id=record.worker_id, kind=kind.upper(), detail=detail or "")

    def _unanswered(self, failure: Failure, job: Job, record: WorkerRecord, attempt: int) -> None:
        if record.state != DEAD:
            record.state = UNREACHABLE
        reason = failure.getErrorMessage() or failure.type.__name__
        self.log.warn("worker {worker_id} did not answer job {job_id}: {reason}",
                      worker_id=record.worker_id, job_id=job.job_id, reason=reason)
        if attempt < self.max_attempts:
            self.store.requeue_job(job.job_id)
            raise WorkerFailed(reason)
        self.queue.worker_gone(record.worker_id)
        why = f"no worker answered after {attempt} attempts (last: {record.worker_id}: {reason})"
        if self.store.bury_job(job.job_id, why, self._clock.seconds()):
            self.metrics.on_finished("dead")
            self.log.error("job {job_id} given up: {why}", job_id=job.job_id, why=why)

    # -- views --------------------------------------------------------------------------

    def hits(self, count: int) -> list[Hit]:
        """The last ``count`` hits, newest first."""
        return [Hit(j.worker_id or "?", j.request.site_id, j.request.ad_id,
                    j.started or j.submitted, j.detail or "?")
                for j in self.store.recent("yes", count)]

    def job_state(self, job_id: int) -> bytes:
        """The JOB reply for ``job_id``."""
        job = self.store.job(job_id)
        if job is None:
            return format_error(f"no job {job_id}", "404 ERROR")
        return format_job(job_id, job.state, _job_words(job))

    def _workers_in_order(self) -> list[WorkerRecord]:
        return sorted(self.workers.values(), key=lambda w: w.worker_id)

    def snapshot(self) -> PoolSnapshot:
        """The pool as it is now, for the dashboard and the metrics."""
        workers = tuple(
            WorkerView(w.worker_id, w.host, w.port, w.state, w.last_sent, w.last_result,
                       self.detector.last_heard(w.worker_id),
                       len(self._inflight.get(w.worker_id, ())), w.capacity, w.jobs_done)
            for w in self._workers_in_order()
        )
        hits = tuple(HitView(j.job_id, j.worker_id or "?", j.request.site_id, j.request.ad_id,
                             j.request.url, j.started or j.submitted, j.detail or "")
                     for j in self.store.recent("yes", 20))
        dead = tuple(DeadJob(j.job_id, j.request.url, j.request.ad_id, j.request.site_id,
                             j.attempts, j.detail or "", j.finished or 0.0)
                     for j in self.store.recent("dead", 20))
        running = sum(len(d) for d in self._inflight.values())
        return PoolSnapshot(self._clock.seconds(), workers, self.queue.depth, running, hits, dead,
                            self.store.result_counts())


def _job_words(job: StoredJob) -> list[str]:
    if job.state == "queued":
        return ["attempts", str(job.attempts)]
    if job.state == "running":
        return [job.worker_id or "?", "attempt", str(job.attempts), "since", format_time(job.started)]
    if job.state == "dead":
        return ["attempts", str(job.attempts), job.detail or ""]
    words = [job.worker_id or "?", (job.result or "?").upper()]
    if job.result == "yes":
        words += [job.request.site_id, job.detail or "?"]
    elif job.result == "error":
        words.append(job.detail or "")
    return words

