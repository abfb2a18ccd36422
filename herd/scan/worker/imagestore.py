"""Image de-duplication: bytes already saved in a LOGDIR are linked, not written again.

The first copy of some bytes is written as usual; a later image with the same SHA-256 (and
the same length, a cheap check that the first copy was not altered) becomes a hard link
to it, so it costs a directory entry instead of its size. Where a hard link is impossible
(another file system, a file system without hard links), a relative symbolic link is made
instead; where even that fails, the bytes are written. A first copy that has reached the
file system's link limit is retired: the bytes are written again and that copy becomes the
first.

The index of first copies, SHA-256 → path, is kept in memory and appended to
``LOGDIR/_images.jsonl`` (``{"sha256": ..., "path": "S1/2026-11-24-09-05-03/a.png",
"bytes": 308}``, the path relative to LOGDIR), which is read again at start: the last line
of a digest wins. A first copy that has vanished (someone cleaned up old folders) is
ignored; the next image with those bytes is written and becomes the first copy.

Nothing is ever overwritten: a path that exists already is an error (FileExistsError).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from attrs import frozen
from twisted.internet.defer import Deferred

from herd.core.loglevel import LevelLogger
from herd.scan.worker.logdir import write_file
from herd.scan.worker.scanlog import append_json_line, read_json_lines

INDEX_FILE = "_images.jsonl"

HARD = "hard"
SYMBOLIC = "symbolic"

# os.link failures that mean "no hard link here", not "something is wrong".
_NO_HARD_LINKS = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


@frozen
class SavedImage:
    """An image saved by ImageStore.save."""

    path: Path
    size: int
    sha256: str
    linked_to: Optional[str] = None
    """The first copy (relative to LOGDIR, POSIX separators) when ``path`` links to it."""
    link: Optional[str] = None
    """``"hard"`` or ``"symbolic"`` when linked, None when written."""

    @property
    def linked(self) -> bool:
        return self.linked_to is not None


class StoreStats(NamedTuple):
    """What an ImageStore did since it was created."""

    files_saved: int
    """Every image saved, written or linked."""
    files_linked: int
    """The images linked to an earlier copy instead of written."""
    bytes_written: int
    bytes_saved: int
    """The bytes of the linked images: disk space de-duplication did not use."""


@frozen
class _First:
    path: str  # relative to the logdir, or absolute when outside it
    size: int


class ImageStore:
    """Saves images under ``logdir``, linking repeated bytes to their first copy.

    With ``enabled=False`` every image is written, and the index is neither read nor
    written (the digest is still computed: scan records carry it).
    """

    log = LevelLogger()

    def __init__(self, logdir: Path, enabled: bool = True) -> None:
        self.logdir = Path(os.path.abspath(logdir))
        self.enabled = enabled
        self.index_path = self.logdir / INDEX_FILE
        self._first: dict[str, _First] = {}
        self._writing: dict[str, list[Deferred[None]]] = {}
        """Digests being written by ``save_in_thread``, and who waits for them."""
        self._saved = self._linked = self._written_bytes = self._saved_bytes = 0
        self.skipped = 0
        """Malformed lines of the index file, skipped when it was loaded."""
        if enabled:
            self._load()

    def _load(self) -> None:
        try:
            for _, obj in read_json_lines(self.index_path):
                try:
                    digest, path, size = obj["sha256"], obj["path"], obj["bytes"]
                    if not (isinstance(digest, str) and isinstance(path, str) and path
                            and type(size) is int and size >= 0):
                        raise TypeError
                except (TypeError, KeyError):
                    self.skipped += 1
                    continue
                self._first[digest] = _First(path, size)  # the last line of a digest wins
        except FileNotFoundError:
            pass
        except OSError as error:
            self.log.warn(
                "cannot read the image index {path} ({error}); starting a new one",
                path=str(self.index_path),
                error=error.strerror or str(error),
            )
        if self.skipped:
            self.log.warn(
                "{path}: skipped {count} malformed line(s)", path=str(self.index_path), count=self.skipped
            )

    def __len__(self) -> int:
        """How many distinct images the index knows."""
        return len(self._first)

    def stats(self) -> StoreStats:
        return StoreStats(self._saved, self._linked, self._written_bytes, self._saved_bytes)

    def relative(self, path: Path) -> str:
        """``path`` relative to the logdir (POSIX separators), or absolute when outside it."""
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.logdir).as_posix()
        except ValueError:
            return str(absolute)

    def save(self, path: Path, data: bytes) -> SavedImage:
        """Save ``data`` as the new file ``path``: linked when these bytes are known.

        Raises OSError (FileExistsError when ``path`` exists) if nothing could be saved.
        """
        path = Path(path)
        digest = hashlib.sha256(data).hexdigest()
        linked = self._linked_copy(digest, path, len(data)) if self.enabled else None
        if linked is not None:
            return linked
        write_file(path, data)
        return self._written(digest, path, len(data))

    async def save_in_thread(
        self, path: Path, data: bytes, in_thread: Callable[..., "Deferred[Any]"]
    ) -> SavedImage:
        """``save``, with the hashing and the writing done by ``in_thread(f, *args)`` (a
        thread pool), so that a large image does not block the reactor; the index and the
        links stay on the calling (reactor) thread. An image whose bytes are being written
        already waits for that copy, then is linked to it.
        """
        path = Path(path)
        digest = await in_thread(_sha256, data)
        if self.enabled:
            while digest in self._writing:
                written: Deferred[None] = Deferred()
                self._writing[digest].append(written)
                await written
            linked = self._linked_copy(digest, path, len(data))
            if linked is not None:
                return linked
            self._writing[digest] = []
        try:
            await in_thread(write_file, path, data)
            return self._written(digest, path, len(data))
        finally:
            for waiting in self._writing.pop(digest, []) if self.enabled else []:
                waiting.callback(None)

    def _linked_copy(self, digest: str, path: Path, size: int) -> Optional[SavedImage]:
        """``path`` linked to the first copy of these bytes, or None to write it instead."""
        first = self._usable_first(digest, size)
        if first is None:
            return None
        link = self._link(first, path)
        if link is None:
            return None
        self._saved += 1
        self._linked += 1
        self._saved_bytes += size
        return SavedImage(path, size, digest, self.relative(first), link)

    def _written(self, digest: str, path: Path, size: int) -> SavedImage:
        """Count a copy just written to ``path`` and remember it as the first of its bytes."""
        self._saved += 1
        self._written_bytes += size
        if self.enabled:
            self._remember(digest, path, size)
        return SavedImage(path, size, digest)

    def _usable_first(self, digest: str, size: int) -> Optional[Path]:
        entry = self._first.get(digest)
        if entry is None or entry.size != size:
            return None
        first = self.logdir / entry.path  # an absolute entry.path stays absolute
        try:
            info = os.stat(first)
        except OSError:
            return None  # vanished: the next copy is written and becomes the first
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return None
        return first

    def _link(self, first: Path, path: Path) -> Optional[str]:
        """Link ``path`` to ``first``: ``"hard"``, ``"symbolic"``, or None to write instead."""
        try:
            os.link(first, path)
            return HARD
        except FileExistsError:
            raise
        except OSError as error:
            if error.errno == errno.EMLINK:
                return None  # the first copy is full of links: write a new first copy
            if error.errno not in _NO_HARD_LINKS:
                self.log.warn(
                    "cannot hard-link {path} to {first} ({error}); writing it",
                    path=str(path), first=str(first), error=error.strerror or str(error),
                )
                return None
        try:
            os.symlink(os.path.relpath(first, path.parent), path)
            return SYMBOLIC
        except FileExistsError:
            raise
        except OSError as error:
            self.log.warn(
                "cannot link {path} to {first} ({error}); writing it",
                path=str(path), first=str(first), error=error.strerror or str(error),
            )
            return None

    def _remember(self, digest: str, path: Path, size: int) -> None:
        entry = _First(self.relative(path), size)
        self._first[digest] = entry
        try:
            append_json_line(self.index_path, {"sha256": digest, "path": entry.path, "bytes": size})
        except OSError as error:
            # The in-memory index still works; only a restarted worker forgets this copy.
            self.log.warn(
                "cannot append to the image index {path}: {error}",
                path=str(self.index_path), error=error.strerror or str(error),
            )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def human_bytes(count: int) -> str:
    """``0 B``, ``512 B``, ``1.5 KiB``, ``12.0 MiB``, ..."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
