"""A read-only picture of the pool at one moment, for the dashboard and the metrics.

``take_snapshot`` reads it from the pool (its ``Worker`` records, immutable), the dispatch
queue and the store; readers never touch their state. Times are seconds since the epoch
(None: not yet).
"""

from __future__ import annotations

from attrs import frozen
from twisted.internet.interfaces import IReactorTime

from herd.scan.orchestrator.pool import Pool, Worker
from herd.scan.orchestrator.queue import DispatchQueue
from herd.scan.orchestrator.store import Store

RECENT = 20
"""Hits and dead letters a snapshot shows."""


@frozen
class HitView:
    """A job whose page held the ad string."""

    job_id: int
    worker_id: str
    site_id: str
    ad_id: str
    url: str
    fetched: float
    folder: str  # the date-time folder under the worker's LOGDIR/<site_id>/


@frozen
class DeadJob:
    """A job given up after too many failed attempts."""

    job_id: int
    url: str
    ad_id: str
    site_id: str
    attempts: int
    reason: str
    failed_at: float


@frozen
class PoolSnapshot:
    """The pool: workers, queue, recent hits, dead letters, results by kind."""

    taken_at: float
    workers: tuple[Worker, ...]  # in identifier order
    queued: int
    running: int
    hits: tuple[HitView, ...]  # newest first
    dead: tuple[DeadJob, ...]  # newest first
    results: dict[str, int]  # "yes", "no", "error", "dead" -> count


def take_snapshot(pool: Pool, queue: DispatchQueue[object, Worker], store: Store,
                  clock: IReactorTime) -> PoolSnapshot:
    """The pool as it is now."""
    hits = tuple(HitView(j.job_id, j.worker_id or "?", j.request.site_id, j.request.ad_id,
                         j.request.url, j.started or j.submitted, j.detail or "")
                 for j in store.recent("yes", RECENT))
    dead = tuple(DeadJob(j.job_id, j.request.url, j.request.ad_id, j.request.site_id,
                         j.attempts, j.detail or "", j.finished or 0.0)
                 for j in store.recent("dead", RECENT))
    return PoolSnapshot(clock.seconds(), tuple(pool), queue.depth, pool.running, hits, dead,
                        store.result_counts())
