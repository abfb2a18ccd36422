"""The orchestrator's decisions: queueing, registration, dispatch, results, status, hits."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.protocols.scan import (
    CheckRequest,
    DeadRequest,
    HitsRequest,
    RegisterRequest,
    StatusRequest,
)
from herd.protocols.scan_replies import Failed, Found, NotFound, parse_dead, parse_hits, parse_status
from herd.scan.orchestrator.service import Orchestrator
from herd.scan.orchestrator.store import Store
from tests.fakes import START, FakeWorkers, check


class OrchestratorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.workers = FakeWorkers()
        self.orchestrator = Orchestrator(self.workers, self.clock, max_attempts=2)

    def register(self, worker_id: str, port: int, host: str = "127.0.0.1") -> bytes:
        return self.orchestrator.handle(RegisterRequest(host, port, worker_id))

    def status(self):
        return parse_status(self.orchestrator.handle(StatusRequest(1)))

    def test_check_is_acknowledged_with_a_job_id_and_queued(self) -> None:
        self.assertEqual(self.orchestrator.handle(check(1)), b"200 OK 1\n")
        self.assertEqual(self.orchestrator.handle(check(2)), b"200 OK 2\n")
        self.assertEqual(self.status().queued, 2)
        self.assertEqual(self.workers.sent, [])

    def test_register_dispatches_waiting_jobs_in_order(self) -> None:
        self.orchestrator.handle(check(1))
        self.orchestrator.handle(check(2))
        self.assertEqual(self.register("w1", 54001), b"200 OK\n")
        self.assertEqual([(h, p, r) for h, p, r, _ in self.workers.sent], [("127.0.0.1", 54001, check(1))])
        self.workers.answer(0, NotFound())
        self.assertEqual(self.workers.sent[1][2], check(2))

    def test_register_twice_updates_without_a_twin(self) -> None:
        self.register("w1", 54001)
        self.register("w1", 54002, host="10.0.0.5")
        [worker] = self.status().workers
        self.assertEqual((worker.worker_id, worker.host, worker.port), ("w1", "10.0.0.5", 54002))

    def test_new_identifier_at_the_same_address_replaces_the_old(self) -> None:
        self.register("old", 54001)
        self.register("new", 54001)
        self.assertEqual([w.worker_id for w in self.status().workers], ["new"])

    def test_status_shows_times_state_and_jobs_done(self) -> None:
        self.register("w1", 54001)
        self.clock.advance(10)
        self.orchestrator.handle(check(1))
        busy = self.status().workers[0]
        self.assertEqual((busy.state, busy.last_sent, busy.last_result), ("busy", START + 10, None))
        self.clock.advance(3)
        self.workers.answer(0, NotFound())
        idle = self.status().workers[0]
        self.assertEqual((idle.state, idle.last_result, idle.jobs_done), ("idle", START + 13, 1))

    def test_found_result_is_a_hit_newest_first(self) -> None:
        self.register("w1", 54001)
        for n in (1, 2, 3):
            self.orchestrator.handle(check(n))
            self.clock.advance(1)
            self.workers.answer(n - 1, Found(f"S{n}", f"2026-01-01-00-00-0{n}"))
        self.orchestrator.handle(check(4))
        self.workers.answer(3, NotFound())
        hits = parse_hits(self.orchestrator.handle(HitsRequest(5)))
        self.assertEqual([h.site_id for h in hits], ["S3", "S2", "S1"])
        self.assertEqual(hits[0].worker_id, "w1")
        self.assertEqual(hits[0].ad_id, "IRISH_CSE")
        self.assertEqual(hits[0].folder, "2026-01-01-00-00-03")
        self.assertEqual(hits[0].fetched, START + 2)
        self.assertEqual(len(parse_hits(self.orchestrator.handle(HitsRequest(2)))), 2)

    def test_no_hits_still_gets_a_reply(self) -> None:
        self.assertEqual(self.orchestrator.handle(HitsRequest(5)), b"200 HITS 0\n")

    def test_every_result_is_recorded(self) -> None:
        self.register("w1", 54001)
        for n in (1, 2, 3):
            self.orchestrator.handle(check(n))
        self.workers.answer(0, Found("S1", "f"))
        self.workers.answer(1, NotFound())
        self.workers.answer(2, Failed("page answered HTTP 404"))
        store = self.orchestrator.store
        self.assertEqual(
            [(store.job(i).state, store.job(i).result, store.job(i).detail) for i in (1, 2, 3)],
            [("done", "yes", "f"), ("done", "no", None), ("done", "error", "page answered HTTP 404")],
        )
        self.assertEqual(store.result_counts(), {"yes": 1, "no": 1, "error": 1})

    def test_unreachable_worker_loses_no_job(self) -> None:
        self.register("w1", 54001)
        self.register("w2", 54002)
        self.orchestrator.handle(check(1))
        self.orchestrator.handle(check(2))
        self.workers.fail(0, ConnectionRefusedError())
        # job 1 went back to the front; w2 is busy with job 2, so it waits
        self.assertEqual(self.status().queued, 1)
        states = {w.worker_id: w.state for w in self.status().workers}
        self.assertEqual(states, {"w1": "unreachable", "w2": "busy"})
        self.workers.answer(1, NotFound())
        self.assertEqual(self.workers.sent[2][:3], ("127.0.0.1", 54002, check(1)))

    def test_unreachable_worker_is_used_again_after_registering(self) -> None:
        self.register("w1", 54001)
        self.orchestrator.handle(check(1))
        self.workers.fail(0, ConnectionRefusedError())
        self.assertEqual(len(self.workers.sent), 1)
        self.register("w1", 54001)
        self.assertEqual(self.workers.sent[1][2], check(1))
        self.assertEqual(self.status().workers[0].state, "busy")

    def test_job_fails_after_max_attempts(self) -> None:
        self.register("w1", 54001)
        self.register("w2", 54002)
        self.orchestrator.handle(check(1))
        self.workers.fail(0, ConnectionRefusedError())
        self.workers.fail(1, ConnectionRefusedError())
        job = self.orchestrator.store.job(1)
        self.assertEqual((job.state, job.attempts), ("dead", 2))
        self.assertIn("after 2 attempts", job.detail)
        self.assertEqual(self.status().queued, 0)
        [letter] = parse_dead(self.orchestrator.handle(DeadRequest(5)))
        self.assertEqual((letter.job_id, letter.site_id, letter.attempts), (1, "S1", 2))
        self.register("w1", 54001)
        self.assertEqual(len(self.workers.sent), 2)


class DispatchLoopTests(SynchronousTestCase):
    """The orchestrator's loop that hands what the queue pairs to the workers."""

    def test_synchronous_results_drain_the_queue(self) -> None:
        seen: list[str] = []

        def answer_at_once(host: str, port: int, request: CheckRequest) -> Deferred:
            seen.append(request.site_id)
            return succeed(NotFound())

        orchestrator = Orchestrator(answer_at_once, Clock())
        for n in range(500):
            orchestrator.handle(check(n))
        orchestrator.handle(RegisterRequest("127.0.0.1", 54001, "w1"))
        self.assertEqual(seen, [f"S{n}" for n in range(500)])
        self.assertEqual(orchestrator.store.result_counts(), {"no": 500})

    def test_a_bug_in_running_a_job_is_logged_and_the_worker_stays_usable(self) -> None:
        class Flaky(Store):
            def start_job(self, job_id: int, worker_id: str, now: float) -> int:
                if job_id == 1:
                    raise KeyError(job_id)
                return super().start_job(job_id, worker_id, now)

        workers = FakeWorkers()
        orchestrator = Orchestrator(workers, Clock(), Flaky(":memory:"))
        orchestrator.handle(check(1))
        orchestrator.handle(check(2))
        orchestrator.handle(RegisterRequest("127.0.0.1", 54001, "w1"))
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertEqual([r for _, _, r, _ in workers.sent], [check(2)])
        self.assertEqual(orchestrator.queue.depth, 0)
