"""The orchestrator's durable state in SQLite: jobs (queue and results) and the pool.

One file (``--db``, WAL mode, ``synchronous=NORMAL``: a commit is on disk for the OS once
it returns, so a killed orchestrator loses nothing it acknowledged; only a power cut can
lose the last commits). Calls are short and made from the reactor thread. Each write
commits at once, except between ``begin`` and ``commit`` (the orchestrator's group commit).
With ``checkpoint_in_thread``, SQLite's automatic WAL checkpoint (which syncs the files,
milliseconds at a time, every ~1000 pages written) is turned off for the reactor's
connection and ``checkpoint`` is to be called from another thread instead; a commit is
exactly as durable either way (it is in the WAL once it returns).

A job moves ``queued`` → ``running`` → ``done`` (result ``yes``/``no``/``error``) or
``dead`` (given up: too many failed attempts). Moves are guarded by the current state,
so a result that arrives twice, or for a job already given up, is recorded once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from attrs import frozen

from herd.protocols.scan import CheckRequest
from herd.scan.orchestrator.pool import Worker

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL, ad_id TEXT NOT NULL, site_id TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted REAL NOT NULL, started REAL, finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker_id TEXT, result TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_by_result ON jobs (result, finished);
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL, port INTEGER NOT NULL, capacity INTEGER NOT NULL,
    registered REAL NOT NULL, last_sent REAL, last_result REAL, jobs_done INTEGER NOT NULL
);
"""


@frozen
class StoredJob:
    """A job as stored."""

    job_id: int
    request: CheckRequest
    state: str
    submitted: float
    started: Optional[float]
    finished: Optional[float]
    attempts: int
    worker_id: Optional[str]
    result: Optional[str]
    detail: Optional[str]


_JOB_COLUMNS = "id, url, ad_id, site_id, state, submitted, started, finished, attempts, worker_id, result, detail"


def _job(row: tuple) -> StoredJob:
    return StoredJob(row[0], CheckRequest(row[1], row[2], row[3]), *row[4:])


class Store:
    """Jobs and workers in one SQLite database."""

    def __init__(self, path: Union[str, Path], checkpoint_in_thread: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.checkpoint_in_thread = checkpoint_in_thread and self.path != ":memory:"
        if self.checkpoint_in_thread:
            self._db.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> None:
        """Copy the WAL's committed pages into the database file, without blocking the
        writer (a passive checkpoint, on a connection of its own: call it from a thread)."""
        db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def close(self) -> None:
        self._db.close()

    def begin(self) -> None:
        """Open a transaction: the writes until ``commit`` are made durable together."""
        self._db.execute("BEGIN")

    def commit(self) -> None:
        """Make the writes since ``begin`` durable."""
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        """Forget the writes since ``begin``."""
        self._db.execute("ROLLBACK")

    def add_job(self, request: CheckRequest, now: float) -> int:
        """Store a new queued job; its id once it is committed."""
        cursor = self._db.execute(
            "INSERT INTO jobs (url, ad_id, site_id, state, submitted) VALUES (?, ?, ?, 'queued', ?)",
            (request.url, request.ad_id, request.site_id, now),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def start_job(self, job_id: int, worker_id: str, now: float) -> int:
        """Mark a job running on ``worker_id``; its attempt number."""
        self._db.execute(
            "UPDATE jobs SET state='running', worker_id=?, started=?, attempts=attempts+1 "
            "WHERE id=? AND state IN ('queued', 'running')",
            (worker_id, now, job_id),
        )
        (attempts,) = self._db.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()
        return attempts

    def requeue_job(self, job_id: int) -> None:
        """Put a running job back in the queue (its worker failed)."""
        self._db.execute("UPDATE jobs SET state='queued', worker_id=NULL WHERE id=? AND state='running'", (job_id,))

    def finish_job(self, job_id: int, worker_id: str, result: str, detail: Optional[str], now: float) -> bool:
        """Record a running job's result; False if it was already recorded (a duplicate)."""
        cursor = self._db.execute(
            "UPDATE jobs SET state='done', result=?, detail=?, finished=?, worker_id=? "
            "WHERE id=? AND state='running'",
            (result, detail, now, worker_id, job_id),
        )
        return cursor.rowcount == 1

    def bury_job(self, job_id: int, reason: str, now: float) -> bool:
        """Give a job up (dead-letter list); False if it had a result already."""
        cursor = self._db.execute(
            "UPDATE jobs SET state='dead', result='dead', detail=?, finished=? "
            "WHERE id=? AND state IN ('queued', 'running')",
            (reason, now, job_id),
        )
        return cursor.rowcount == 1

    def job(self, job_id: int) -> Optional[StoredJob]:
        """One job, or None if there is no such job."""
        row = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def unfinished_jobs(self) -> list[StoredJob]:
        """Queued and running jobs, oldest first (to queue again after a restart)."""
        rows = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"
        )
        return [_job(row) for row in rows]

    def requeue_running(self) -> int:
        """Put every running job back in the queue, in one transaction (at a restart)."""
        return self._db.execute(
            "UPDATE jobs SET state='queued', worker_id=NULL WHERE state='running'").rowcount

    def queued_job_ids(self) -> Iterator[tuple[int, float]]:
        """Every queued job's id and submission time, oldest first, streamed (a restart
        on a million jobs builds no list of rows)."""
        return iter(self._db.execute(
            "SELECT id, submitted FROM jobs WHERE state='queued' ORDER BY id"))

    def recent(self, result: str, limit: int) -> list[StoredJob]:
        """The last ``limit`` jobs with ``result`` (``yes`` for hits, ``dead``), newest first."""
        rows = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE result=? ORDER BY finished DESC, id DESC LIMIT ?",
            (result, limit),
        )
        return [_job(row) for row in rows]

    def result_counts(self) -> dict[str, int]:
        """How many jobs ended with each result."""
        rows = self._db.execute("SELECT result, COUNT(*) FROM jobs WHERE result IS NOT NULL GROUP BY result")
        return dict(rows.fetchall())

    def save_worker(self, worker: Worker) -> None:
        """Store what outlives a restart of ``worker`` (not its state: heartbeats tell it)."""
        self._db.execute(
            "INSERT OR REPLACE INTO workers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (worker.worker_id, worker.host, worker.port, worker.capacity, worker.registered,
             worker.last_sent, worker.last_result, worker.jobs_done),
        )

    def delete_workers(self, worker_ids: Iterable[str]) -> None:
        self._db.executemany("DELETE FROM workers WHERE worker_id=?", [(w,) for w in worker_ids])

    def workers(self) -> list[Worker]:
        """The workers stored, as ``unreachable`` until they show they are alive."""
        return [Worker(*row) for row in self._db.execute(
            "SELECT worker_id, host, port, capacity, registered, last_sent, last_result, jobs_done "
            "FROM workers ORDER BY worker_id")]
