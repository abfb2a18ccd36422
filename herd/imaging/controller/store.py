"""The controller's datastore: users, tokens, workers, workloads, images, jobs, activity.

One SQLite file (WAL). Every method is one short statement or one transaction, called on
the reactor thread; a restarted server reads everything back, and jobs that were running
when it stopped are queued again (``requeue_running``). A filtered image is stored and its
job marked done in one transaction, only if the job was not done yet: that is what makes
each original filtered exactly once, whatever workers die or answer twice.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable, Optional

from herd.imaging.model import (ASSIGNED, DONE, FAILED, ORIGINAL, QUEUED, FILTERED, Job,
                                JobCounts, StoredImage, Workload)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL,
    created REAL NOT NULL, expires REAL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY, tags TEXT NOT NULL, slots INTEGER NOT NULL, address TEXT,
    state TEXT NOT NULL, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, filter TEXT NOT NULL, tags TEXT NOT NULL,
    owner TEXT NOT NULL, directory TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, workload_id TEXT NOT NULL, type TEXT NOT NULL, path TEXT NOT NULL,
    content_type TEXT NOT NULL, size INTEGER NOT NULL, source_id TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS images_workload ON images (workload_id, type);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, workload_id TEXT NOT NULL, image_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL, worker TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    result_id TEXT, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_workload ON jobs (workload_id, state);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE TABLE IF NOT EXISTS activity (
    worker TEXT NOT NULL, time REAL NOT NULL, cpu REAL NOT NULL, memory REAL NOT NULL,
    running_jobs INTEGER NOT NULL, gpu REAL);
CREATE INDEX IF NOT EXISTS activity_time ON activity (time);
"""


def _tags(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


class Store:
    """The imaging datastore in one SQLite file (``":memory:"`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._activity_rows = 0

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _one(self, sql: str, *args: object) -> Optional[tuple]:
        return self._db.execute(sql, args).fetchone()

    # users and tokens
    def replace_users(self, users: dict[str, str]) -> None:
        """Make the users table exactly ``users`` (name -> password hash)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM users")
            self._db.executemany("INSERT INTO users VALUES (?, ?)", sorted(users.items()))

    def password_hash(self, name: str) -> Optional[str]:
        """The stored hash of user ``name``, or None."""
        row = self._one("SELECT password_hash FROM users WHERE name = ?", name)
        return row[0] if row else None

    def add_token(self, digest: str, subject: str, kind: str, now: float,
                  expires: Optional[float]) -> None:
        """Remember a token by its digest."""
        self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, 0)",
                         (digest, subject, kind, now, expires))

    def token(self, digest: str) -> Optional[tuple[str, str, Optional[float], bool]]:
        """``(subject, kind, expires, revoked)`` of a token, or None."""
        row = self._one("SELECT subject, kind, expires, revoked FROM tokens WHERE digest = ?",
                        digest)
        return (row[0], row[1], row[2], bool(row[3])) if row else None

    def revoke_token(self, digest: str) -> None:
        """Refuse this token from now on."""
        self._db.execute("UPDATE tokens SET revoked = 1 WHERE digest = ?", (digest,))

    def revoke_kind(self, kind: str) -> None:
        """Revoke every token of ``kind`` (worker tokens, when the server starts)."""
        self._db.execute("UPDATE tokens SET revoked = 1 WHERE kind = ?", (kind,))

    def forget_tokens(self, before: float) -> None:
        """Drop tokens that expired before ``before``."""
        self._db.execute("DELETE FROM tokens WHERE expires IS NOT NULL AND expires < ?",
                         (before,))

    # workers and their activity
    def worker_seen(self, name: str, tags: Iterable[str], slots: int, address: str,
                    state: str, now: float) -> None:
        """Record a worker joining or leaving."""
        self._db.execute("INSERT OR REPLACE INTO workers VALUES (?, ?, ?, ?, ?, ?)",
                         (name, ",".join(tags), slots, address, state, now))

    def worker_left(self, name: str, state: str, now: float) -> None:
        """Record that a worker is gone (``left`` or ``dead``)."""
        self._db.execute("UPDATE workers SET state = ?, since = ? WHERE name = ?",
                         (state, now, name))

    def add_activity(self, worker: str, now: float, cpu: float, memory: float,
                     running_jobs: int, gpu: Optional[float], keep: float = 86400.0) -> None:
        """Record one load report; reports older than ``keep`` seconds are dropped."""
        self._db.execute("INSERT INTO activity VALUES (?, ?, ?, ?, ?, ?)",
                         (worker, now, cpu, memory, running_jobs, gpu))
        self._activity_rows += 1
        if self._activity_rows % 500 == 0:
            self._db.execute("DELETE FROM activity WHERE time < ?", (now - keep,))

    def activity(self, worker: str) -> list[tuple[float, float, float, int, Optional[float]]]:
        """A worker's load reports, oldest first."""
        return self._db.execute("SELECT time, cpu, memory, running_jobs, gpu FROM activity "
                                "WHERE worker = ? ORDER BY time", (worker,)).fetchall()

    # workloads
    def add_workload(self, workload: Workload, now: float) -> None:
        """Store a new workload."""
        w = workload
        self._db.execute("INSERT INTO workloads VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (w.id, w.name, w.filter, ",".join(w.tags), w.owner, w.directory, now))

    def workload(self, workload_id: str) -> Optional[Workload]:
        """The workload ``workload_id``, or None."""
        row = self._one("SELECT id, name, filter, tags, owner, directory FROM workloads "
                        "WHERE id = ?", workload_id)
        return Workload(row[0], row[1], row[2], _tags(row[3]), row[4], row[5]) if row else None

    def counts(self, workload_id: str) -> JobCounts:
        """How the workload's jobs stand."""
        states = dict(self._db.execute("SELECT state, COUNT(*) FROM jobs WHERE workload_id = ? "
                                       "GROUP BY state", (workload_id,)).fetchall())
        return JobCounts(states.get(QUEUED, 0), states.get(ASSIGNED, 0), states.get(DONE, 0),
                         states.get(FAILED, 0))

    def filtered_ids(self, workload_id: str) -> list[str]:
        """The ids of the workload's filtered images, oldest first."""
        rows = self._db.execute("SELECT id FROM images WHERE workload_id = ? AND type = ? "
                                "ORDER BY rowid", (workload_id, FILTERED)).fetchall()
        return [row[0] for row in rows]

    def active_workloads(self, owner: Optional[str]) -> list[Workload]:
        """Workloads with a job not finished, or no image yet (all owners if None)."""
        sql = ("SELECT id FROM workloads w WHERE (? IS NULL OR owner = ?) AND ("
               "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workload_id = w.id) OR "
               "EXISTS (SELECT 1 FROM jobs j WHERE j.workload_id = w.id AND j.state IN (?, ?)))"
               " ORDER BY created")
        rows = self._db.execute(sql, (owner, owner, QUEUED, ASSIGNED)).fetchall()
        return [w for (wid,) in rows if (w := self.workload(wid)) is not None]

    # images and jobs
    def add_original(self, image: StoredImage, size: int, job_id: str, now: float) -> None:
        """Store an original image and its queued job, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._insert_image(image, size, None, now)
            self._db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, NULL, 0, NULL, ?)",
                             (job_id, image.workload_id, image.id, QUEUED, now))

    def _insert_image(self, image: StoredImage, size: int, source: Optional[str],
                      now: float) -> None:
        self._db.execute("INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (image.id, image.workload_id, image.type, image.path,
                          image.content_type, size, source, now))

    def complete_job(self, job_id: str, image: StoredImage, size: int, now: float) -> bool:
        """Store ``image`` as the result of ``job_id`` unless the job has one already."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._one("SELECT image_id FROM jobs WHERE id = ? AND state != ?", job_id, DONE)
            if row is None:
                return False
            self._insert_image(image, size, row[0], now)
            self._db.execute("UPDATE jobs SET state = ?, result_id = ?, updated = ? WHERE id = ?",
                             (DONE, image.id, now, job_id))
            return True

    def image(self, image_id: str) -> Optional[StoredImage]:
        """The image ``image_id``, or None."""
        row = self._one("SELECT id, workload_id, type, path, content_type FROM images "
                        "WHERE id = ?", image_id)
        return StoredImage(*row) if row else None

    def job(self, job_id: str) -> Optional[tuple[str, str, Optional[str]]]:
        """``(workload_id, state, worker)`` of a job, or None."""
        row = self._one("SELECT workload_id, state, worker FROM jobs WHERE id = ?", job_id)
        return (row[0], row[1], row[2]) if row else None

    def results_of(self, original_id: str) -> int:
        """How many filtered images answer ``original_id`` (never more than one)."""
        return self._one("SELECT COUNT(*) FROM images WHERE source_id = ?", original_id)[0]

    def set_job_state(self, job_id: str, state: str, worker: Optional[str], now: float,
                      attempt: bool = False) -> bool:
        """Move a job that is not done to ``state``; False if it was done already."""
        cursor = self._db.execute(
            "UPDATE jobs SET state = ?, worker = ?, updated = ?, attempts = attempts + ? "
            "WHERE id = ? AND state != ?", (state, worker, now, int(attempt), job_id, DONE))
        return cursor.rowcount == 1

    def attempts(self, job_id: str) -> int:
        """How many times the job was sent to a worker."""
        row = self._one("SELECT attempts FROM jobs WHERE id = ?", job_id)
        return row[0] if row else 0

    def requeue_running(self, now: float) -> int:
        """Queue again every job left running by a previous run; how many."""
        return self._db.execute("UPDATE jobs SET state = ?, worker = NULL, updated = ? "
                                "WHERE state = ?", (QUEUED, now, ASSIGNED)).rowcount

    def queued_jobs(self) -> list[Job]:
        """Every queued job, oldest first, with what the scheduler needs."""
        rows = self._db.execute(
            "SELECT j.id, j.workload_id, j.image_id, w.filter, w.tags FROM jobs j "
            "JOIN workloads w ON w.id = j.workload_id WHERE j.state = ? ORDER BY j.rowid",
            (QUEUED,)).fetchall()
        return [Job(r[0], r[1], r[2], r[3], _tags(r[4])) for r in rows]

    def job_originals(self, workload_id: str) -> list[str]:
        """The ids of a workload's original images, oldest first."""
        rows = self._db.execute("SELECT id FROM images WHERE workload_id = ? AND type = ? "
                                "ORDER BY rowid", (workload_id, ORIGINAL)).fetchall()
        return [row[0] for row in rows]
