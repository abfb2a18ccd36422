"""The pool, owner of every worker: records, states, slots, heartbeats. A Clock, no I/O."""

from __future__ import annotations

import attrs
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.protocols.scan_replies import WorkerStatus
from herd.scan.orchestrator.pool import Pool, Worker

START = 1_790_000_000.0


class PoolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.pool = Pool(self.clock, heartbeat_timeout=10)
        self.pool.start()
        self.addCleanup(self.pool.stop)

    def test_a_worker_is_one_record_replaced_on_every_change(self) -> None:
        worker, replaced = self.pool.register("w1", "127.0.0.1", 54001, 2)
        self.assertEqual(replaced, [])
        self.assertEqual((worker.state, worker.running, worker.capacity, worker.registered,
                          worker.last_heartbeat), ("idle", 0, 2, START, START))
        with self.assertRaises(attrs.exceptions.FrozenInstanceError):
            worker.state = "dead"  # type: ignore[misc]
        job: Deferred[object] = Deferred()
        self.clock.advance(1)
        self.pool.occupy("w1", job)
        now = self.pool.get("w1")
        self.assertEqual((now.state, now.running, now.last_sent), ("busy", 1, START + 1))
        self.assertEqual((worker.state, worker.running), ("idle", 0))  # an old picture stays as it was
        job.callback(None)
        self.assertEqual((self.pool.get("w1").state, self.pool.running), ("idle", 0))

    def test_status_is_the_wire_view(self) -> None:
        self.pool.register("w1", "10.0.0.5", 54001, 3)
        self.pool.occupy("w1", Deferred())
        self.assertEqual(self.pool.get("w1").status(),
                         WorkerStatus("w1", "10.0.0.5", 54001, START, None, "busy", 0, 1, 3))

    def test_answers_count_once(self) -> None:
        self.pool.register("w1", "127.0.0.1", 54001, 1)
        self.pool.answered("w1", recorded=True)
        self.clock.advance(2)
        worker = self.pool.answered("w1", recorded=False)  # a duplicate: seen, not counted
        self.assertEqual((worker.jobs_done, worker.last_result), (1, START + 2))
        self.assertIsNone(self.pool.answered("ghost", recorded=True))

    def test_restored_workers_wait_for_a_sign_of_life(self) -> None:
        self.pool.restore([Worker("w1", "127.0.0.1", 54001, 2, START - 100, jobs_done=7, state="busy")])
        self.assertEqual(self.pool.get("w1").state, "unreachable")
        self.assertIsNone(self.pool.next_free())
        self.assertEqual(self.pool.heartbeat("w1").state, "idle")
        self.assertEqual(self.pool.next_free().jobs_done, 7)
        self.assertIsNone(self.pool.heartbeat("ghost"))

    def test_a_new_identifier_at_a_known_address_replaces_the_old(self) -> None:
        self.pool.register("old", "127.0.0.1", 54001, 1)
        worker, replaced = self.pool.register("new", "127.0.0.1", 54001, 1)
        self.assertEqual(replaced, ["old"])
        self.assertEqual([w.worker_id for w in self.pool], ["new"])
        self.assertIs(self.pool.next_free(), worker)

    def test_a_silent_worker_is_dead_and_its_jobs_cancelled(self) -> None:
        self.pool.register("w1", "127.0.0.1", 54001, 2)
        self.pool.register("w2", "127.0.0.1", 54002, 1)
        jobs: list[Deferred[object]] = [Deferred(), Deferred()]
        for job in jobs:
            self.pool.occupy("w1", job)
        for _ in range(4):
            self.clock.advance(3)
            self.pool.heartbeat("w2")
        for job in jobs:
            self.failureResultOf(job, CancelledError)
        self.assertEqual((self.pool.get("w1").state, self.pool.get("w1").running), ("dead", 0))
        self.assertEqual(self.pool.next_free().worker_id, "w2")
        self.pool.unreachable("w1")  # a job's failure afterwards does not revive nor relabel it
        self.assertEqual(self.pool.get("w1").state, "dead")
        self.assertEqual(self.pool.heartbeat("w1").state, "idle")
