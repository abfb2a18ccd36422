"""The words of the imaging API: filters, image types, workload states, ids and names."""

from __future__ import annotations

import re
import uuid
from typing import Optional

from attrs import frozen

FILTERS = ("grayscale", "blur")
DEFAULT_FILTER = "grayscale"
ORIGINAL, FILTERED = "original", "filtered"
IMAGE_TYPES = {"original": ORIGINAL, "orginal": ORIGINAL, "filtered": FILTERED}
"""Accepted spellings of an image type (the specification writes ``orginal``)."""

SCHEDULING, RUNNING, COMPLETED = "scheduling", "running", "completed"

QUEUED, ASSIGNED, DONE, FAILED = "queued", "running", "done", "failed"
"""States of a job (one job per original image)."""

_ID = re.compile(r"^[0-9a-f]{32}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_id() -> str:
    """A fresh id: 32 hex digits, safe as a file name."""
    return uuid.uuid4().hex


def is_id(text: str) -> bool:
    """Whether ``text`` looks like an id made by ``new_id``."""
    return bool(_ID.match(text))


def sanitize_name(name: str, limit: int = 64) -> str:
    """``name`` made safe as part of a directory name (never empty, never dots only)."""
    cleaned = _UNSAFE.sub("-", name).strip("-.")[:limit]
    return cleaned or "workload"


def parse_tags(text: Optional[str]) -> tuple[str, ...]:
    """``a, b,,c`` -> ``("a", "b", "c")``: sorted, unique, blank ones dropped."""
    if not text:
        return ()
    return tuple(sorted({tag.strip() for tag in text.split(",") if tag.strip()}))


@frozen
class JobCounts:
    """How a workload's jobs stand."""

    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0

    def status(self) -> str:
        """``running`` while a job runs; ``scheduling`` while nothing was uploaded or jobs
        wait for a worker; ``completed`` when every original has been answered."""
        if self.running:
            return RUNNING
        if self.queued or not (self.done or self.failed):
            return SCHEDULING
        return COMPLETED


@frozen
class Workload:
    """A workload as stored."""

    id: str
    name: str
    filter: str
    tags: tuple[str, ...]
    owner: str
    directory: str


@frozen
class StoredImage:
    """An image as stored: where its bytes are and what they are."""

    id: str
    workload_id: str
    type: str
    path: str
    content_type: str


@frozen
class Job:
    """Filtering one original image, as the scheduler needs it."""

    id: str
    workload_id: str
    image_id: str
    filter: str
    tags: tuple[str, ...]
