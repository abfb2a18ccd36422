"""Controller and worker over AMP in memory (iosim), the worker's HTTP through StubTreq:
subscribe, report, run a job end to end, lose the connection, refuse a bad proof."""

from __future__ import annotations

import io

from PIL import Image
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.test.iosim import FakeTransport, connectedServerAndClient

from herd.core.tokens import Tokens
from herd.imaging.controller.connection import WorkerConnection
from herd.imaging.worker.connection import ControllerConnection
from herd.imaging.worker.jobs import JobRunner
from herd.imaging.worker.load import LoadSampler
from herd.testing.imaging import frame, in_thread_now
from herd.testing.imaging import ApiCase

SERVER = IPv4Address("TCP", "10.1.2.3", 8081)
WORKER = IPv4Address("TCP", "10.1.2.9", 40000)


class Sampler(LoadSampler):
    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    def sample(self) -> dict:
        return {"cpu": 12.5, "memory": 40.0, "running_jobs": self.runner.running, "gpu": -1.0}


class AmpTests(ApiCase):
    def connect(self, name: str = "w1", secret: bytes | None = None, proof_secret: bytes | None = None):
        runner = JobRunner(StubTreq(self.api.resource()), in_thread_now, slots=2, timeout=None)
        proofs = Tokens(secret, self.clock) if secret else None
        prover = Tokens(proof_secret, self.clock) if proof_secret else None
        worker, controller, pump = connectedServerAndClient(
            lambda: WorkerConnection(self.registry, lambda host: f"http://{host}:8080", 0.5, proofs),
            lambda: ControllerConnection(name, ["gpu"], runner, Sampler(runner), self.clock,
                                         lambda: prover.make(name.encode()) if prover else None),
            clientTransportFactory=lambda p: FakeTransport(p, False, WORKER, SERVER),
            serverTransportFactory=lambda p: FakeTransport(p, True, SERVER, WORKER),
        )
        pump.flush()
        return worker, controller, pump, runner

    def test_subscribe_report_and_run_a_job(self) -> None:
        worker, controller, pump, runner = self.connect()
        self.assertEqual(runner.endpoint, "http://10.1.2.3:8080")
        live = self.registry.live["w1"]
        self.assertEqual((live.tags, live.slots, live.cpu, live.memory), (frozenset({"gpu"}), 3, 12.5, 40.0))  # 2 slots + 1 prefetch
        self.assertEqual(self.store.activity("w1")[0][1:], (12.5, 40.0, 0, None))
        runner._http = StubTreq(self.api.resource())  # a client that we flush below
        runner.use_store("http://api", runner.token)
        token = self.login()
        workload = self.workload(token, filter="grayscale")["workload_id"]
        self.assertEqual(self.upload(token, workload, frame(4))[0], 201)
        for _ in range(5):
            self.clock.advance(0)
            pump.flush()
            runner._http.flush()
        state = self.call("GET", f"/workloads/{workload}", token)[1]
        self.assertEqual((state["status"], len(state["filtered_images"])), ("completed", 1))
        data = self.call("GET", f"/images/{state['filtered_images'][0]}", token)[1]
        image = Image.open(io.BytesIO(data))
        self.assertEqual((image.format, image.mode, image.size), ("PNG", "L", (64, 48)))
        self.assertEqual(runner.done, 1)

    def test_reports_are_the_heartbeat(self) -> None:
        worker, controller, pump, runner = self.connect()
        for _ in range(20):
            self.clock.advance(0.5)
            pump.flush()
        self.assertIn("w1", self.registry.live)
        self.assertGreaterEqual(len(self.store.activity("w1")), 20)

    def test_lost_connection_forgets_the_worker_and_its_token(self) -> None:
        worker, controller, pump, runner = self.connect()
        token = runner.token
        self.assertTrue(self.accounts.authenticate(token).is_worker)
        controller.transport.loseConnection()
        pump.flush()
        self.assertNotIn("w1", self.registry.live)
        code, body, _ = self.call("GET", "/status", token)
        self.assertEqual(code, 401)

    def test_proof_is_checked_when_the_controller_has_a_secret(self) -> None:
        self.connect("bad", secret=b"s3cret", proof_secret=b"wrong")
        self.assertNotIn("bad", self.registry.live)
        self.connect("none", secret=b"s3cret")
        self.assertNotIn("none", self.registry.live)
        self.connect("good", secret=b"s3cret", proof_secret=b"s3cret")
        self.assertIn("good", self.registry.live)
