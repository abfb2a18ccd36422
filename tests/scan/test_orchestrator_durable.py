"""The orchestrator's guarantees: durable jobs, job states, dead letters, heartbeats,
backpressure, allow-lists and tokens. A Clock, fake workers and a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.core.allowlist import AllowList
from herd.core.tokens import Tokens
from herd.protocols.scan import (
    CheckRequest,
    HeartbeatRequest,
    HitsRequest,
    JobRequest,
    RegisterRequest,
    StatusRequest,
)
from herd.protocols.scan_replies import Found, NotFound, parse_hits, parse_status
from herd.scan.orchestrator.access import Access
from herd.scan.orchestrator.pool import Pool
from herd.scan.orchestrator.service import Orchestrator
from herd.scan.orchestrator.store import Store
from tests.fakes import START, FakeWorkers, check


class DurableTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.db = Path(self.mktemp_dir()) / "orchestrator.sqlite"
        self.clock = Clock()
        self.clock.advance(START)
        self.workers = FakeWorkers()
        self.orchestrator = self.start()

    def mktemp_dir(self) -> str:
        import shutil
        import tempfile

        path = tempfile.mkdtemp(prefix="herd-orch-")
        self.addCleanup(shutil.rmtree, path)
        return path

    def start(self, **options: object) -> Orchestrator:
        orchestrator = Orchestrator(self.workers, self.clock, Store(self.db),
                                    Pool(self.clock, heartbeat_timeout=10), **options)
        orchestrator.startService()
        self.addCleanup(orchestrator.stopService)
        return orchestrator

    def restart(self, **options: object) -> Orchestrator:
        """As after kill -9: no clean stop, a new process on the same database."""
        self.orchestrator.pool.stop()
        self.workers = FakeWorkers()
        self.orchestrator = self.start(**options)
        return self.orchestrator

    def register(self, worker_id: str, port: int, capacity: int = 1) -> bytes:
        return self.orchestrator.handle(RegisterRequest("127.0.0.1", port, worker_id, capacity))

    def test_a_deep_queue_keeps_ids_only_and_sends_every_request_in_order(self) -> None:
        from herd.scan.orchestrator.service import LIGHT_QUEUE_DEPTH

        total = LIGHT_QUEUE_DEPTH + 5
        for n in range(1, total + 1):
            self.orchestrator.handle(check(n))
        waiting = self.orchestrator.queue.waiting()
        self.assertIsNotNone(waiting[0].request)
        self.assertIsNone(waiting[-1].request)  # read back from the store at dispatch
        self.register("w1", 54001, capacity=8)
        for index in range(total):
            self.workers.answer(index, NotFound())
        self.assertEqual([r for _, _, r, _ in self.workers.sent],
                         [check(n) for n in range(1, total + 1)])

    def test_restarted_jobs_are_queued_without_requests_and_sent_whole(self) -> None:
        for n in (1, 2):
            self.orchestrator.handle(check(n))
        orchestrator = self.restart()
        self.assertEqual([j.request for j in orchestrator.queue.waiting()], [None, None])
        self.register("w1", 54001, capacity=2)
        self.assertEqual([r for _, _, r, _ in self.workers.sent], [check(1), check(2)])

    def test_acknowledged_jobs_survive_a_restart_and_are_done_once(self) -> None:
        for n in (1, 2, 3):
            self.orchestrator.handle(check(n))
        self.register("w1", 54001)
        self.workers.answer(0, Found("S1", "f1"))  # job 1 done; job 2 running; job 3 queued
        orchestrator = self.restart()
        self.assertEqual(parse_status(orchestrator.handle(StatusRequest())).queued, 2)
        self.assertEqual(self.workers.sent, [])  # w1 must show it is alive first
        orchestrator.handle(HeartbeatRequest("w1"))
        self.workers.answer(0, NotFound())
        self.workers.answer(1, NotFound())
        self.assertEqual([r for _, _, r, _ in self.workers.sent], [check(2), check(3)])
        self.assertEqual(orchestrator.store.result_counts(), {"yes": 1, "no": 2})
        self.assertEqual([h.site_id for h in parse_hits(orchestrator.handle(HitsRequest(5)))], ["S1"])

    def test_job_states(self) -> None:
        self.orchestrator.handle(check(1))
        self.assertEqual(self.orchestrator.handle(JobRequest(1)), b"200 JOB 1 queued attempts 0\n")
        self.register("w1", 54001)
        self.assertTrue(self.orchestrator.handle(JobRequest(1)).startswith(b"200 JOB 1 running w1 attempt 1 since "))
        self.workers.answer(0, Found("S1", "2026-11-24-09-05-03"))
        self.assertEqual(self.orchestrator.handle(JobRequest(1)), b"200 JOB 1 done w1 YES S1 2026-11-24-09-05-03\n")
        self.assertEqual(self.orchestrator.handle(JobRequest(99)), b"404 ERROR no job 99\n")

    def test_a_result_that_arrives_twice_is_recorded_once(self) -> None:
        self.orchestrator.handle(check(1))
        self.register("w1", 54001)
        store = self.orchestrator.store
        store.start_job(1, "w1", START)  # as if the job had been sent a second time
        self.workers.answer(0, NotFound())
        self.assertFalse(store.finish_job(1, "w1", "yes", "late", START + 1))
        self.assertEqual((store.job(1).result, store.result_counts()), ("no", {"no": 1}))

    def test_queue_bound_refuses_with_503_and_stores_nothing(self) -> None:
        orchestrator = self.restart(max_queue=2)
        self.assertEqual(orchestrator.handle(check(1)), b"200 OK 1\n")
        self.assertEqual(orchestrator.handle(check(2)), b"200 OK 2\n")
        self.assertTrue(orchestrator.handle(check(3)).startswith(b"503 BUSY queue full"))
        self.assertIsNone(orchestrator.store.job(3))
        self.assertTrue(orchestrator.handle(StatusRequest()).startswith(b"200 STATUS"))

    def test_silent_worker_is_dead_and_its_jobs_go_elsewhere(self) -> None:
        self.register("w1", 54001)
        self.register("w2", 54002)
        self.orchestrator.handle(check(1))
        self.orchestrator.handle(check(2))
        for _ in range(4):  # w2 keeps beating, w1 falls silent
            self.clock.advance(3)
            self.orchestrator.handle(HeartbeatRequest("w2"))
        states = {w.worker_id: w.state for w in parse_status(self.orchestrator.handle(StatusRequest())).workers}
        self.assertEqual(states["w1"], "dead")
        self.assertEqual(self.orchestrator.store.job(1).state, "queued")  # its check was cancelled
        self.workers.answer(1, NotFound())  # w2 finishes its job, then takes w1's
        self.assertEqual(self.workers.sent[2][:3], ("127.0.0.1", 54002, check(1)))
        self.orchestrator.handle(HeartbeatRequest("w1"))  # w1 comes back
        self.assertEqual(parse_status(self.orchestrator.handle(StatusRequest())).workers[0].state, "idle")

    def test_heartbeat_from_an_unknown_worker_asks_it_to_register(self) -> None:
        self.assertTrue(self.orchestrator.handle(HeartbeatRequest("ghost")).startswith(b"404 UNKNOWN"))

    def test_capacity_runs_jobs_at_once(self) -> None:
        for n in (1, 2, 3):
            self.orchestrator.handle(check(n))
        self.register("w1", 54001, capacity=2)
        self.assertEqual(len(self.workers.sent), 2)
        self.assertEqual(self.orchestrator.snapshot().workers[0].running, 2)

    def test_allow_lists(self) -> None:
        orchestrator = self.restart(access=Access(clients=AllowList.parse("10.0.0.0/8"),
                                                  workers=AllowList.parse("127.0.0.1")))
        self.assertTrue(orchestrator.handle(check(1), "192.168.1.5").startswith(b"403 ERROR"))
        self.assertEqual(orchestrator.handle(check(1), "10.1.2.3"), b"200 OK 1\n")
        self.assertTrue(orchestrator.handle(StatusRequest(), "8.8.8.8").startswith(b"403 ERROR"))
        self.assertTrue(orchestrator.handle(RegisterRequest("h", 54001, "w"), "10.1.2.3").startswith(b"403 ERROR"))
        self.assertEqual(orchestrator.handle(RegisterRequest("h", 54001, "w"), "127.0.0.1"), b"200 OK\n")

    def test_tokens_on_register_and_heartbeat(self) -> None:
        tokens = Tokens(b"s3cret", self.clock, window=30)
        orchestrator = self.restart(access=Access(tokens=tokens))
        worker_side = Tokens(b"s3cret", self.clock, window=30)
        register = RegisterRequest("127.0.0.1", 54001, "w1")
        self.assertEqual(orchestrator.handle(register), b"403 ERROR token missing\n")
        forged = Tokens(b"wrong", self.clock).make(register.signed())
        self.assertEqual(orchestrator.handle(RegisterRequest("127.0.0.1", 54001, "w1", 1, forged)),
                         b"403 ERROR bad token\n")
        good = RegisterRequest("127.0.0.1", 54001, "w1", 1, worker_side.make(register.signed()))
        self.assertEqual(orchestrator.handle(good), b"200 OK\n")
        self.assertEqual(orchestrator.handle(good), b"403 ERROR token replayed\n")
        # the CHECKs sent to workers are signed too: see test_worker_client
        self.clock.advance(31)
        stale = HeartbeatRequest("w1", 0, worker_side.make(HeartbeatRequest("w1").signed()))
        self.clock.advance(31)
        self.assertTrue(orchestrator.handle(stale).startswith(b"403 ERROR token expired"))

    def test_dead_letters_after_attempts(self) -> None:
        orchestrator = self.restart(max_attempts=1)
        orchestrator.handle(check(1))
        self.register("w1", 54001)
        self.workers.fail(0, ConnectionRefusedError())
        [dead] = orchestrator.snapshot().dead
        self.assertEqual((dead.job_id, dead.attempts), (1, 1))
        self.assertIn("after 1 attempts", dead.reason)


class GroupCommitTests(SynchronousTestCase):
    """Under group commit, a CHECK is acknowledged when its reactor turn's commit is done."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.workers = FakeWorkers()
        self.orchestrator = Orchestrator(self.workers, self.clock, Store(":memory:"), group_commit=True)

    def test_acks_wait_for_the_commit_of_the_turn(self) -> None:
        acks = [self.orchestrator.handle(check(n)) for n in (1, 2, 3)]
        for ack in acks:
            self.assertNoResult(ack)
        self.assertEqual(self.orchestrator.queue.depth, 0)
        self.clock.advance(0)
        self.assertEqual([self.successResultOf(a) for a in acks], [b"200 OK 1\n", b"200 OK 2\n", b"200 OK 3\n"])
        self.assertEqual(self.orchestrator.queue.depth, 3)
        self.assertEqual(self.orchestrator.store.job(3).state, "queued")

    def test_a_failed_commit_acknowledges_nothing(self) -> None:
        class BrokenDisk(Store):
            def commit(self) -> None:
                raise sqlite3.OperationalError("disk I/O error")

        store = BrokenDisk(":memory:")
        orchestrator = Orchestrator(self.workers, self.clock, store, group_commit=True)
        ack = orchestrator.handle(check(1))
        self.clock.advance(0)
        self.assertEqual(self.successResultOf(ack), b"500 ERROR the job could not be stored\n")
        self.assertEqual(len(self.flushLoggedErrors(sqlite3.OperationalError)), 1)
        self.assertIsNone(store.job(1))
        self.assertEqual(orchestrator.queue.depth, 0)

    def test_the_queue_bound_counts_the_jobs_being_committed(self) -> None:
        orchestrator = Orchestrator(self.workers, self.clock, max_queue=2, group_commit=True)
        orchestrator.handle(check(1))
        orchestrator.handle(check(2))
        self.assertTrue(orchestrator.handle(check(3)).startswith(b"503 BUSY"))

    def test_the_udp_protocol_replies_when_the_ack_is_ready(self) -> None:
        from tests.fakes import FakeDatagramTransport
        from herd.scan.orchestrator.connection import OrchestratorProtocol

        protocol = OrchestratorProtocol(self.orchestrator.handle)
        protocol.transport = transport = FakeDatagramTransport()
        protocol.datagramReceived(b"CHECK http://h/x.html AD S1", ("127.0.0.1", 4000))
        protocol.datagramReceived(b"STATUS", ("127.0.0.1", 4001))
        self.assertEqual([addr for _, addr in transport.written], [("127.0.0.1", 4001)])
        self.clock.advance(0)
        self.assertEqual(transport.written[-1], (b"200 OK 1\n", ("127.0.0.1", 4000)))


def test_checkpoint_in_thread_keeps_every_commit(tmp_path: Path) -> None:
    """With the automatic checkpoint off, a commit is still in the database for a new
    connection, and ``checkpoint`` (run from another thread) copies the WAL over."""
    import threading

    db = tmp_path / "o.sqlite"
    store = Store(db, checkpoint_in_thread=True)
    assert store.checkpoint_in_thread
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    ids = [store.add_job(CheckRequest("http://a.example/", "AD", "S1"), 1.0) for _ in range(50)]
    thread = threading.Thread(target=store.checkpoint)
    thread.start()
    thread.join(10)
    other = sqlite3.connect(db)
    assert other.execute("SELECT COUNT(*) FROM jobs").fetchone() == (len(ids),)
    other.close()
    assert not Store(":memory:", checkpoint_in_thread=True).checkpoint_in_thread
