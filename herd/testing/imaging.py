"""The imaging system for tests, the benchmark and the demo: images, an in-memory API,
real processes on loopback ports, and a small blocking HTTP client (stdlib only)."""

from __future__ import annotations

import base64
import io
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

from attrs import define, field
from PIL import Image
from twisted.internet.defer import maybeDeferred

from herd.core.processes import BIN, LOOPBACK, ProcessGroup, free_port, tcp_accepts, twistd, wait_for
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
