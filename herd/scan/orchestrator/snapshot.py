"""A read-only picture of the pool at one moment, for the dashboard and the metrics.

The orchestrator builds it (``Orchestrator.snapshot()``); readers never touch the
orchestrator's own state. Times are seconds since the epoch (None: not yet).
"""

from __future__ import annotations

from typing import Optional

from attrs import frozen


@frozen
class WorkerView:
    """One worker of the pool."""

    worker_id: str
    host: str
    port: int
    state: str  # idle, busy, unreachable, dead
    last_sent: Optional[float]
    last_result: Optional[float]
    last_heartbeat: Optional[float]
    running: int  # jobs running on it now
    capacity: int  # jobs it may run at once
    jobs_done: int


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
    workers: tuple[WorkerView, ...]
    queued: int
    running: int
    hits: tuple[HitView, ...]  # newest first
    dead: tuple[DeadJob, ...]  # newest first
    results: dict[str, int]  # "yes", "no", "error", "dead" -> count
