"""The orchestrator: it routes requests, queues CHECK jobs, dispatches them, records results.

This module decides; its only I/O is the SQLite ``Store``. Requests arrive already parsed
(see ``herd.scan.orchestrator.connection``) with the sender's address; ``Access`` says
whether the sender may make them, then a table of handlers by request type answers them.
The workers are the ``Pool``'s, the waiting jobs the ``DispatchQueue``'s; a job is run on a
worker through the injected ``check`` callable
(``herd.scan.orchestrator.worker_connection.check_on_worker`` in production).

Nothing acknowledged is lost: a CHECK is answered ``200 OK <id>`` only once the job is
committed, a job whose worker fails goes back to the front of the queue (up to
``max_attempts``, then to the dead-letter list), and after a restart every queued or
running job is queued again.
"""

from __future__ import annotations

import gc
import sqlite3
from typing import Any, Callable, Optional, Union

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

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
    UNKNOWN,
    DeadLetter,
    Found,
    Hit,
    NotFound,
    Result,
    format_dead,
    format_error,
    format_hits,
    format_job,
    format_ok,
    format_status,
    format_time,
)
from herd.core.loglevel import LevelLogger
from herd.scan.orchestrator.access import Access
from herd.scan.orchestrator.metrics import NoMetrics
from herd.scan.orchestrator.pool import Pool, Worker
from herd.scan.orchestrator.queue import DispatchQueue, Job
from herd.scan.orchestrator.snapshot import PoolSnapshot, take_snapshot
from herd.scan.orchestrator.store import Store, StoredJob

LIGHT_QUEUE_DEPTH = 1000
"""Past this many jobs waiting, a new job is queued without its request (see ``Job``)."""

Checker = Callable[[str, int, CheckRequest], "Deferred[Result]"]
"""Run one CHECK on the worker at (host, port); fails if the worker cannot answer."""

Reply = Union[bytes, "Deferred[bytes]"]
"""A reply datagram, or a Deferred of it (a CHECK under group commit)."""


def result_kind(result: Result) -> tuple[str, Optional[str]]:
    """How a result is stored: ``yes`` and the folder, ``no``, or ``error`` and why."""
    if isinstance(result, Found):
        return "yes", result.folder
    if isinstance(result, NotFound):
        return "no", None
    return "error", result.reason


class Orchestrator(Service):
    """Queue CHECK jobs, hand them to workers with free slots, record what they answer."""

    log = LevelLogger()

    def __init__(
        self,
        check: Checker,
        clock: IReactorTime,
        store: Optional[Store] = None,
        pool: Optional[Pool] = None,
        queue: Optional[DispatchQueue[Job, Worker]] = None,
        metrics: Optional[NoMetrics] = None,
        access: Optional[Access] = None,
        max_attempts: int = 3,
        max_queue: int = 10_000,
        group_commit: bool = False,
    ) -> None:
        self._check = check
        self._clock = clock
        self.store = store if store is not None else Store(":memory:")
        self.pool = pool if pool is not None else Pool(clock)
        self.queue = queue if queue is not None else DispatchQueue(self.pool)
        self.metrics = metrics if metrics is not None else NoMetrics()
        self.access = access if access is not None else Access()
        self.max_attempts = max_attempts
        self.max_queue = max_queue
        self.group_commit = group_commit
        self._batch: list[tuple[Job, Deferred[bytes]]] = []
        self._commit_call: Optional[IDelayedCall] = None
        self._dispatching = False
        self._routes: dict[type, Callable[[Any], Reply]] = {
            CheckRequest: self.submit,
            RegisterRequest: self.register,
            HeartbeatRequest: self.heartbeat,
            StatusRequest: self.status,
            HitsRequest: self.hits,
            JobRequest: self.job,
            DeadRequest: self.dead_letters,
        }

    def startService(self) -> None:
        """Take back the known workers and queue again every job that was not finished."""
        super().startService()
        self.pool.restore(self.store.workers())
        self.store.requeue_running()
        jobs = 0
        for job_id, submitted in self.store.queued_job_ids():
            self.queue.submit(Job(job_id, None, submitted))  # request read at dispatch
            jobs += 1
        if jobs or len(self.pool):
            self.log.info("restarted with {jobs} unfinished jobs and {workers} known workers",
                          jobs=jobs, workers=len(self.pool))
        if jobs >= 10_000:
            # what was loaded lives as long as its job: keep it out of the collector's
            # full passes (with 1,000,000 jobs queued, each would take about a second)
            gc.freeze()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()

    def snapshot(self) -> PoolSnapshot:
        """The pool as it is now, for the dashboard and the metrics."""
        return take_snapshot(self.pool, self.queue, self.store, self._clock)

    # -- requests -----------------------------------------------------------------------

    def handle(self, request: Request, sender: str = "127.0.0.1") -> Reply:
        """Act on one parsed request from ``sender`` (an IP address): first who may ask,
        then the handler of the request's type."""
        refusal = self.access.refuse(request, sender)
        if refusal is not None:
            self.metrics.on_refused("denied")
            return refusal
        route = self._routes.get(type(request))
        if route is None:
            return format_error(f"unsupported request {type(request).__name__}")
        return route(request)

    def submit(self, request: CheckRequest) -> Reply:
        """Store and queue a CHECK job; ``503 BUSY`` when the queue is full.

        With ``group_commit``, the jobs received in one reactor turn are committed together
        at the end of the turn (or at ``flush``), and each is acknowledged (the Deferred
        fires) only then.
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
            self._commit_call = self._clock.callLater(0, self._commit)
        acknowledged: Deferred[bytes] = Deferred()
        self._batch.append((Job(self.store.add_job(request, now), request, now), acknowledged))
        return acknowledged

    def flush(self) -> None:
        """Commit and acknowledge now the CHECKs waiting for the end of the turn (called
        when the UDP socket has been read dry: a reply need not wait one more turn)."""
        if self._batch:
            if self._commit_call is not None and self._commit_call.active():
                self._commit_call.cancel()
            self._commit()

    def _commit(self) -> None:
        self._commit_call = None
        batch, self._batch = self._batch, []
        if not batch:
            return
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
        request = job.request
        assert request is not None
        self.log.debug("queued job {job_id}: {url} {ad_id} {site_id}", job_id=job.job_id,
                       url=request.url, ad_id=request.ad_id, site_id=request.site_id)
        if self.queue.depth >= LIGHT_QUEUE_DEPTH:
            job.request = None  # far from dispatch: read back from the store then
        self.queue.submit(job)
        self._dispatch()

    def register(self, request: RegisterRequest) -> bytes:
        """Add a worker, or refresh the one with the same identifier."""
        worker, replaced = self.pool.register(request.worker_id, request.host, request.port,
                                              request.capacity)
        self.store.delete_workers(replaced)
        self.store.save_worker(worker)
        self._dispatch()
        return format_ok()

    def heartbeat(self, request: HeartbeatRequest) -> bytes:
        """A worker is alive; ``404 UNKNOWN`` tells one we do not know to register."""
        if self.pool.heartbeat(request.worker_id) is None:
            return format_error(f"unknown worker {request.worker_id}: REGISTER first", UNKNOWN)
        self._dispatch()
        return format_ok()

    def status(self, request: StatusRequest) -> bytes:
        """One page of the pool's status."""
        return format_status([w.status() for w in self.pool], request.page, self.queue.depth)

    def hits(self, request: HitsRequest) -> bytes:
        """The last hits, newest first."""
        return format_hits(Hit(j.worker_id or "?", j.request.site_id, j.request.ad_id,
                               j.started or j.submitted, j.detail or "?")
                           for j in self.store.recent("yes", request.count))

    def job(self, request: JobRequest) -> bytes:
        """One job's state."""
        job = self.store.job(request.job_id)
        if job is None:
            return format_error(f"no job {request.job_id}", "404 ERROR")
        return format_job(request.job_id, job.state, _job_words(job))

    def dead_letters(self, request: DeadRequest) -> bytes:
        """The last jobs given up, newest first."""
        return format_dead([
            DeadLetter(j.job_id, j.request.site_id, j.request.ad_id, j.attempts,
                       j.finished or 0.0, j.detail or "")
            for j in self.store.recent("dead", request.count)
        ])

    # -- running jobs -------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Hand waiting jobs to workers with a free slot, for as long as there are both."""
        if self._dispatching:
            return  # a job ended synchronously inside the loop below; the loop goes on
        self._dispatching = True
        try:
            while (match := self.queue.take()) is not None:
                job, worker = match
                try:
                    self._run(job, worker)
                except Exception:
                    self.log.failure("could not run job {job_id} on {worker_id}",
                                     job_id=job.job_id, worker_id=worker.worker_id)
        finally:
            self._dispatching = False

    def _run(self, job: Job, worker: Worker) -> None:
        request = job.request if job.request is not None else self._stored_request(job.job_id)
        now = self._clock.seconds()
        attempt = self.store.start_job(job.job_id, worker.worker_id, now)
        self.metrics.on_dispatched(now - job.submitted)
        self.log.debug("dispatched job {job_id} to {worker_id} (attempt {attempt})",
                       job_id=job.job_id, worker_id=worker.worker_id, attempt=attempt)
        d = maybeDeferred(self._check, worker.host, worker.port, request)
        self.pool.occupy(worker.worker_id, d)
        d.addCallbacks(self._answered, self._unanswered, (job, worker.worker_id), None,
                       (job, worker.worker_id, attempt))
        d.addErrback(self._crashed, job)
        d.addBoth(lambda _: self._dispatch())

    def _stored_request(self, job_id: int) -> CheckRequest:
        stored = self.store.job(job_id)
        if stored is None:
            raise LookupError(f"job {job_id} is not in the store")
        return stored.request

    def _crashed(self, failure: Failure, job: Job) -> None:
        self.log.failure("recording the outcome of job {job_id} failed", failure, job_id=job.job_id)

    def _answered(self, result: Result, job: Job, worker_id: str) -> None:
        kind, detail = result_kind(result)
        recorded = self.store.finish_job(job.job_id, worker_id, kind, detail, self._clock.seconds())
        worker = self.pool.answered(worker_id, recorded)
        if not recorded:
            self.log.warn("a second result for job {job_id} was ignored", job_id=job.job_id)
            return
        if worker is not None:
            self.store.save_worker(worker)
        self.metrics.on_finished(kind)
        self.log.debug("job {job_id} done by {worker_id}: {kind} {detail}", job_id=job.job_id,
                       worker_id=worker_id, kind=kind.upper(), detail=detail or "")

    def _unanswered(self, failure: Failure, job: Job, worker_id: str, attempt: int) -> None:
        """The worker did not answer: it gets no more jobs until it is alive again, and the
        job goes back to the front of the queue, or is given up after ``max_attempts``."""
        self.pool.unreachable(worker_id)
        reason = failure.getErrorMessage() or failure.type.__name__
        self.log.warn("worker {worker_id} did not answer job {job_id}: {reason}",
                      worker_id=worker_id, job_id=job.job_id, reason=reason)
        if attempt < self.max_attempts:
            self.store.requeue_job(job.job_id)
            self.queue.retry(job)
            return
        why = f"no worker answered after {attempt} attempts (last: {worker_id}: {reason})"
        if self.store.bury_job(job.job_id, why, self._clock.seconds()):
            self.metrics.on_finished("dead")
            self.log.error("job {job_id} given up: {why}", job_id=job.job_id, why=why)


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
