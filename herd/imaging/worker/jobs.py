"""A worker's jobs: download the original through the API, filter it in a thread, upload
the result as ``filtered`` (naming the job), all with an injected treq client.

At most ``slots`` images are filtered at once; the worker accepts ``prefetch`` jobs more
than that (its capacity, told to the controller), so the next image downloads while one is
filtered and a one-slot worker is not idle between two jobs.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from treq.client import HTTPClient
from twisted.internet.defer import DeferredSemaphore
from twisted.logger import Logger

from herd.imaging.accounts import InThread
from herd.imaging.multipart import encode_multipart
from herd.imaging.worker.filters import FilterError, Filtered, apply
from herd.protocols.imaging import JobFailed, WorkerBusy


class JobRunner:
    """Run at most ``slots`` jobs at once against the image store."""

    log = Logger()

    def __init__(self, http: HTTPClient, in_thread: InThread, slots: int,
                 timeout: Optional[float] = 60.0, prefetch: int = 1) -> None:
        self._http = http
        self._in_thread = in_thread
        self.slots = slots
        self.capacity = slots + prefetch
        self._filtering = DeferredSemaphore(slots)
        self.timeout = timeout
        self.running = 0
        self.done = 0
        self.endpoint = ""
        self.token = ""

    def use_store(self, endpoint: str, token: str) -> None:
        """The image store (API) to use, as the controller said at subscription."""
        self.endpoint, self.token = endpoint.rstrip("/"), token

    async def run(self, job_id: str, workload_id: str, image_id: str, filter: str) -> str:
        """Filter one image; the id of the stored result ("" if another worker's won)."""
        if self.running >= self.capacity:
            raise WorkerBusy(f"{self.running} jobs in hand, capacity {self.capacity}")
        self.running += 1
        try:
            return await self._run(job_id, workload_id, image_id, filter)
        except (JobFailed, WorkerBusy):
            raise
        except Exception as error:  # network and HTTP failures: the controller retries
            raise JobFailed(f"{type(error).__name__}: {error}") from None
        finally:
            self.running -= 1

    async def _run(self, job_id: str, workload_id: str, image_id: str, filter: str) -> str:
        auth = {"Authorization": f"Bearer {self.token}"}
        response = await self._http.get(f"{self.endpoint}/images/{image_id}", headers=auth,
                                        timeout=self.timeout)
        original = await response.content()
        if response.code != 200:
            raise JobFailed(f"download of {image_id} refused: {response.code} {_message(original)}")
        try:
            result: Filtered = await self._filtering.run(self._in_thread, apply, filter, original)
        except FilterError as error:
            raise JobFailed(str(error)) from None
        body, ctype = encode_multipart(
            {"workload_id": workload_id, "type": "filtered", "job_id": job_id},
            {"data": (f"{image_id}.{result.extension}", result.content_type, result.data)})
        response = await self._http.post(f"{self.endpoint}/images", data=body,
                                         headers={**auth, "Content-Type": ctype},
                                         timeout=self.timeout)
        answer = await response.content()
        if response.code == 409:  # another worker's result was stored first
            self.log.info("job {job}: answered already", job=job_id)
            return ""
        if response.code != 201:
            raise JobFailed(f"upload for job {job_id} refused: {response.code} {_message(answer)}")
        self.done += 1
        return str(json.loads(answer)["image_id"])


def _message(body: bytes) -> Any:
    try:
        return json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        return body[:200]
