"""The imaging system for tests, the benchmark and the demo: images, the API in memory
(klein resource under StubTreq, Clock, SQLite in memory), real processes on loopback
ports, and a small blocking HTTP client (stdlib only)."""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

from attrs import define, field
from PIL import Image
from treq.testing import StubTreq
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.core.passwords import hash_password
from herd.core.processes import BIN, LOOPBACK, ProcessGroup, free_port, tcp_accepts, twistd, wait_for
from herd.imaging.accounts import Accounts
from herd.imaging.api.app import ImagingAPI
from herd.imaging.api.uploads import Limits
from herd.imaging.controller.registry import WorkerRegistry
from herd.imaging.controller.scheduler import Scheduler
from herd.imaging.controller.store import Store
from herd.imaging.multipart import encode_multipart


def frame(index: int, size: tuple[int, int] = (64, 48), fmt: str = "PNG") -> bytes:
    """A colourful test frame (R, G and B differ), different for each ``index``."""
    shift = (index * 37) % 256
    red = Image.linear_gradient("L").resize(size).point(lambda v: (v + shift) % 256)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(size)
    image = Image.merge("RGB", (red, green, blue))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def in_thread_now(function: Any, *args: Any) -> Any:
    """A stand-in for deferToThread that runs ``function`` at once (unit tests)."""
    return maybeDeferred(function, *args)


@define
class Reply:
    """An HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: Optional[bytes] = None,
         headers: Optional[dict[str, str]] = None, timeout: float = 20) -> Reply:
    """One HTTP request with urllib; any status is returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


@define
class Client:
    """A user of the API at ``base``: the calls of the course's test script."""

    base: str
    token: str = ""

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def login(self, user: str, password: str) -> Reply:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        reply = http("POST", self.base + "/login", headers={"Authorization": "Basic " + basic})
        if reply.status == 200:
            self.token = reply.json()["token"]
        return reply

    def get(self, path: str) -> Reply:
        return http("GET", self.base + path, headers=self.auth())

    def create_workload(self, **fields: str) -> Reply:
        if not fields:  # as the course's bare curl -X POST
            return http("POST", self.base + "/workloads", b"", self.auth())
        body, ctype = encode_multipart(fields)
        return http("POST", self.base + "/workloads", body, {**self.auth(), "Content-Type": ctype})

    def upload(self, workload_id: str, data: bytes, kind: Optional[str] = None,
               name: str = "frame.png", ctype: str = "image/png") -> Reply:
        fields = {"workload_id": workload_id, **({"type": kind} if kind else {})}
        body, content_type = encode_multipart(fields, {"data": (name, ctype, data)})
        return http("POST", self.base + "/images", body, {**self.auth(), "Content-Type": content_type})

    def logout(self) -> Reply:
        return http("DELETE", self.base + "/logout", headers=self.auth())

    def wait_completed(self, workload_id: str, count: int, timeout: float) -> dict:
        """Poll the workload until it is completed with ``count`` filtered images."""
        def done() -> Optional[dict]:
            state = self.get(f"/workloads/{workload_id}").json()
            ok = state["status"] == "completed" and len(state["filtered_images"]) >= count
            return state if ok else None
        return wait_for(done, timeout, f"workload {workload_id} to complete", every=0.1)


@define
class ImagingSystem:
    """A server and its workers, as real processes on free loopback ports."""

    group: ProcessGroup
    data: Path
    users: Path
    port: int = field(factory=free_port)
    controller_port: int = field(factory=free_port)
    workers: list[str] = field(factory=list)

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start_server(self, *options: str) -> None:
        """Start (or restart) ``twistd -n imaging``; returns once it listens."""
        self.group.start("server", [*twistd(sys.executable), "-n", "--pidfile=", "imaging",
                                    "--port", str(self.port), "--interface", LOOPBACK,
                                    "--controller-port", str(self.controller_port),
                                    "--controller-interface", LOOPBACK,
                                    "--data", str(self.data), "--users", str(self.users),
                                    "--report-interval", "0.5", "--worker-timeout", "3",
                                    *options])
        wait_for(lambda: tcp_accepts(self.port) and tcp_accepts(self.controller_port), 30,
                 "the imaging server to listen")

    def start_worker(self, name: str, *options: str) -> None:
        """Start ``bin/imaging-worker``; returns once the server counts it."""
        self.group.start(name, [str(BIN / "imaging-worker"), "--controller",
                                f"{LOOPBACK}:{self.controller_port}", "--worker-name", name,
                                "--max-retry", "0.5", *options])
        if name not in self.workers:
            self.workers.append(name)
        wait_for(lambda: f"subscribed as {name}" in self.group.output(name), 30,
                 f"worker {name} to subscribe")

    def add_user(self, name: str, password: str) -> None:
        """``bin/imaging-passwd USERS NAME`` with the password on standard input."""
        import subprocess

        subprocess.run([str(BIN / "imaging-passwd"), str(self.users), name],
                       input=password + "\n", text=True, check=True, capture_output=True,
                       timeout=30)

    def client(self) -> Client:
        return Client(self.base)


HASHES = {"alice": hash_password("wonderland", n=2**4), "bob": hash_password("builder", n=2**4)}


class ApiCase(SynchronousTestCase):
    """A fresh API per test, with users alice and bob."""

    limits = Limits()
    max_queue = 10000

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.store = Store(":memory:")
        self.accounts = Accounts(self.store, self.clock, 3600, in_thread_now)
        self.accounts.set_users(HASHES)
        self.registry = WorkerRegistry(self.store, self.clock, 5.0,
                                       self.accounts.issue_worker_token, self.accounts.revoke)
        self.scheduler = Scheduler(self.store, self.registry, self.clock, max_queue=self.max_queue)
        self.data = Path(tempfile.mkdtemp(prefix="imaging-api-"))
        self.addCleanup(shutil.rmtree, self.data, True)
        self.api = ImagingAPI(self.store, self.accounts, self.scheduler, self.clock, self.data,
                              in_thread_now, self.limits)
        self.http = StubTreq(self.api.resource())

    def call(self, method: str, path: str, token: Optional[str] = None,
             headers: Optional[dict[str, str]] = None, **kwargs: Any) -> tuple[int, Any, Any]:
        """``(status, body as JSON or bytes, response)``."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        d = self.http.request(method, "http://api" + path, headers=headers, **kwargs)
        self.http.flush()
        response = self.successResultOf(d)
        d = response.content()
        self.http.flush()
        body = self.successResultOf(d)
        ctype = response.headers.getRawHeaders(b"content-type", [b""])[0]
        if ctype == b"application/json":
            body = json.loads(body)
        return response.code, body, response

    def login(self, user: str = "alice", password: str = "wonderland") -> str:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        code, body, _ = self.call("POST", "/login", headers={"Authorization": "Basic " + basic})
        self.assertEqual(code, 200, body)
        return body["token"]

    def workload(self, token: str, **fields: str) -> dict:
        if fields:
            body, ctype = encode_multipart(fields)
            code, answer, _ = self.call("POST", "/workloads", token, {"Content-Type": ctype},
                                        data=body)
        else:
            code, answer, _ = self.call("POST", "/workloads", token)
        self.assertEqual(code, 201, answer)
        return answer

    def upload(self, token: str, workload_id: str, data: bytes, **fields: str) -> tuple[int, Any]:
        body, ctype = encode_multipart({"workload_id": workload_id, **fields},
                                       {"data": ("f.png", "image/png", data)})
        code, answer, _ = self.call("POST", "/images", token, {"Content-Type": ctype}, data=body)
        return code, answer
