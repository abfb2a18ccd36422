"""The imaging API in memory: klein resource under StubTreq, Clock, SQLite in memory."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Optional

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from herd.core.passwords import hash_password
from herd.imaging.accounts import Accounts
from herd.imaging.api.app import ImagingAPI
from herd.imaging.api.uploads import Limits
from herd.imaging.controller.registry import WorkerRegistry
from herd.imaging.controller.scheduler import Scheduler
from herd.imaging.controller.store import Store
from herd.imaging.multipart import encode_multipart
from herd.testing.imaging import in_thread_now

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
        self.data = Path(self.mktemp())
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
