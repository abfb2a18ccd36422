"""A worker's log directory: one folder per scan, ``LOGDIR/SiteID/YYYY-MM-DD-HH-mm-SS``.

Two scans of one site in the same second get distinct folders: the second is
``...-SS-2``, the third ``...-SS-3``, and so on. Folders are claimed with ``mkdir``, which
fails if the folder exists, so even two processes sharing a LOGDIR cannot merge folders.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from herd.protocols.scan import check_site_id

FOLDER_FORMAT = "%Y-%m-%d-%H-%M-%S"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 100


def folder_name(when: float) -> str:
    """The date-time folder name for a scan at ``when`` (seconds since the epoch, UTC)."""
    return time.strftime(FOLDER_FORMAT, time.gmtime(when))


def claim_scan_folder(logdir: Path, site_id: str, when: float) -> Path:
    """Create and return a new, empty folder for one scan of ``site_id``.

    The SiteID folder is created when missing. ``site_id`` must be a safe folder name
    (checked again here: nothing may escape ``logdir``).
    """
    site = Path(logdir) / check_site_id(site_id)
    site.mkdir(parents=True, exist_ok=True)
    stem = folder_name(when)
    for attempt in range(1, 10_000):
        folder = site / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise OSError(f"too many scans of {site_id} in one second")


def image_file_name(url: str, index: int, taken: set[str]) -> str:
    """A safe, unique file name in a scan folder for the image at ``url``.

    The name is the last path segment of the URL, reduced to ``A-Z a-z 0-9 . _ -``;
    ``image-<index>`` when nothing is left; ``<stem>-2<ext>`` and so on when taken.
    ``taken`` is updated.
    """
    segment = posixpath.basename(unquote(urlsplit(url).path))
    name = _UNSAFE.sub("_", segment).strip("._")[:MAX_NAME] or f"image-{index}"
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{ext}"
    taken.add(candidate)
    return candidate


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` (never overwriting one)."""
    with open(path, "xb") as stream:
        stream.write(data)
