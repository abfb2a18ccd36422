"""Image de-duplication: repeated bytes are linked to their first copy, not written again."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from herd.scan.worker.imagestore import INDEX_FILE, ImageStore, StoreStats, human_bytes

A = b"\x89PNG\r\n\x1a\n" + b"A" * 300
B = b"\x89PNG\r\n\x1a\n" + b"B" * 500


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    logdir = tmp_path / "logs"
    for folder in ("S1/f1", "S1/f2", "S1/f3", "S2/f1"):
        (logdir / folder).mkdir(parents=True)
    return logdir


def test_first_save_writes_the_file(logdir: Path) -> None:
    store = ImageStore(logdir)
    saved = store.save(logdir / "S1/f1/a.png", A)
    assert (logdir / "S1/f1/a.png").read_bytes() == A
    assert not saved.linked and saved.link is None and saved.linked_to is None
    assert saved.size == len(A)
    assert saved.sha256 == hashlib.sha256(A).hexdigest()


def test_same_bytes_again_is_a_hard_link(logdir: Path) -> None:
    store = ImageStore(logdir)
    first = logdir / "S1/f1/a.png"
    second = logdir / "S1/f2/logo.png"  # the name does not matter, the bytes do
    store.save(first, A)
    saved = store.save(second, A)
    assert saved.linked and saved.link == "hard"
    assert saved.linked_to == "S1/f1/a.png"
    assert second.read_bytes() == A
    assert not second.is_symlink()
    assert os.stat(first).st_ino == os.stat(second).st_ino
    assert os.stat(first).st_nlink == 2
    third = store.save(logdir / "S2/f1/a.png", A)
    assert third.linked_to == "S1/f1/a.png"  # always the first copy
    assert os.stat(first).st_nlink == 3


def test_different_bytes_are_written(logdir: Path) -> None:
    store = ImageStore(logdir)
    store.save(logdir / "S1/f1/a.png", A)
    saved = store.save(logdir / "S1/f2/a.png", B)
    assert not saved.linked
    assert (logdir / "S1/f2/a.png").read_bytes() == B
    assert os.stat(logdir / "S1/f1/a.png").st_nlink == 1
    assert os.stat(logdir / "S1/f2/a.png").st_nlink == 1


def test_never_overwrites(logdir: Path) -> None:
    store = ImageStore(logdir)
    store.save(logdir / "S1/f1/a.png", A)
    (logdir / "S1/f2/a.png").write_bytes(b"already here")
    with pytest.raises(FileExistsError):
        store.save(logdir / "S1/f2/a.png", A)  # linking
    with pytest.raises(FileExistsError):
        store.save(logdir / "S1/f2/a.png", B)  # writing
    assert (logdir / "S1/f2/a.png").read_bytes() == b"already here"


def test_the_index_persists_across_stores(logdir: Path) -> None:
    ImageStore(logdir).save(logdir / "S1/f1/a.png", A)
    lines = [json.loads(line) for line in (logdir / INDEX_FILE).read_text().splitlines()]
    assert lines == [{"sha256": hashlib.sha256(A).hexdigest(), "path": "S1/f1/a.png", "bytes": len(A)}]
    again = ImageStore(logdir)  # a restarted worker
    assert len(again) == 1
    saved = again.save(logdir / "S1/f2/a.png", A)
    assert saved.linked_to == "S1/f1/a.png"
    assert os.stat(logdir / "S1/f1/a.png").st_nlink == 2
    # links are not first copies: the index still has one line
    assert len((logdir / INDEX_FILE).read_text().splitlines()) == 1


def test_a_vanished_first_copy_is_replaced(logdir: Path) -> None:
    ImageStore(logdir).save(logdir / "S1/f1/a.png", A)
    (logdir / "S1/f1/a.png").unlink()
    store = ImageStore(logdir)
    saved = store.save(logdir / "S1/f2/a.png", A)
    assert not saved.linked  # written again: it is the first copy now
    assert (logdir / "S1/f2/a.png").read_bytes() == A
    linked = store.save(logdir / "S1/f3/a.png", A)
    assert linked.linked_to == "S1/f2/a.png"
    # and a store started later agrees: the last line of a digest wins
    later = ImageStore(logdir).save(logdir / "S2/f1/a.png", A)
    assert later.linked_to == "S1/f2/a.png"


def test_a_first_copy_of_another_size_is_not_linked(logdir: Path) -> None:
    store = ImageStore(logdir)
    store.save(logdir / "S1/f1/a.png", A)
    (logdir / "S1/f1/a.png").unlink()
    (logdir / "S1/f1/a.png").write_bytes(A[:10])  # replaced by something else
    saved = store.save(logdir / "S1/f2/a.png", A)
    assert not saved.linked
    assert (logdir / "S1/f2/a.png").read_bytes() == A


def test_symlink_when_hard_links_are_impossible(logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ImageStore(logdir)
    store.save(logdir / "S1/f1/a.png", A)

    def no_hard_links(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_hard_links)
    path = logdir / "S2/f1/a.png"
    saved = store.save(path, A)
    assert saved.linked and saved.link == "symbolic"
    assert saved.linked_to == "S1/f1/a.png"
    assert path.is_symlink()
    assert os.readlink(path) == "../../S1/f1/a.png"  # relative: the LOGDIR can be moved
    assert path.read_bytes() == A
    assert store.stats() == StoreStats(files_saved=2, files_linked=1, bytes_written=len(A), bytes_saved=len(A))


def test_written_when_no_link_at_all_works(logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ImageStore(logdir)
    store.save(logdir / "S1/f1/a.png", A)

    def refuse(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    monkeypatch.setattr(os, "symlink", refuse)
    saved = store.save(logdir / "S1/f2/a.png", A)
    assert not saved.linked
    assert (logdir / "S1/f2/a.png").read_bytes() == A
    assert not (logdir / "S1/f2/a.png").is_symlink()


def test_too_many_links_starts_a_new_first_copy(logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ImageStore(logdir)
    store.save(logdir / "S1/f1/a.png", A)
    real_link = os.link

    def full(src, dst, *args, **kwargs):
        if str(src).endswith("S1/f1/a.png"):
            raise OSError(errno.EMLINK, "Too many links")
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", full)
    assert not store.save(logdir / "S1/f2/a.png", A).linked
    assert store.save(logdir / "S1/f3/a.png", A).linked_to == "S1/f2/a.png"


def test_disabled_writes_every_copy(logdir: Path) -> None:
    store = ImageStore(logdir, enabled=False)
    store.save(logdir / "S1/f1/a.png", A)
    saved = store.save(logdir / "S1/f2/a.png", A)
    assert not saved.linked
    assert saved.sha256 == hashlib.sha256(A).hexdigest()
    assert os.stat(logdir / "S1/f1/a.png").st_nlink == 1
    assert os.stat(logdir / "S1/f2/a.png").st_nlink == 1
    assert not (logdir / INDEX_FILE).exists()
    assert store.stats() == (2, 0, 2 * len(A), 0)


def test_stats(logdir: Path) -> None:
    store = ImageStore(logdir)
    assert store.stats() == (0, 0, 0, 0)
    store.save(logdir / "S1/f1/a.png", A)
    store.save(logdir / "S1/f1/b.png", B)
    store.save(logdir / "S1/f2/a.png", A)
    store.save(logdir / "S1/f2/b.png", B)
    store.save(logdir / "S1/f3/a.png", A)
    files_saved, files_linked, bytes_written, bytes_saved = store.stats()
    assert (files_saved, files_linked) == (5, 3)
    assert bytes_written == len(A) + len(B)
    assert bytes_saved == 2 * len(A) + len(B)


def test_malformed_index_lines_are_skipped(logdir: Path) -> None:
    digest = hashlib.sha256(A).hexdigest()
    (logdir / "S1/f1/a.png").write_bytes(A)
    (logdir / INDEX_FILE).write_text(
        "not json\n"
        '{"sha256": "x"}\n'
        '{"sha256": "y", "path": "S1/f1/a.png", "bytes": "12"}\n'
        "\n"
        + json.dumps({"sha256": digest, "path": "S1/f1/a.png", "bytes": len(A)})
        + "\n"
        '{"sha256": "z", "path": "S1/f'  # a worker killed mid-line
    )
    store = ImageStore(logdir)
    assert store.skipped == 4
    assert len(store) == 1
    assert store.save(logdir / "S1/f2/a.png", A).linked_to == "S1/f1/a.png"
    # the next line written does not glue onto the broken one
    store.save(logdir / "S1/f2/b.png", B)
    assert ImageStore(logdir).save(logdir / "S1/f3/b.png", B).linked_to == "S1/f2/b.png"


def test_relative_logdir(logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(logdir.parent)
    store = ImageStore(Path("logs"))
    store.save(Path("logs/S1/f1/a.png"), A)
    assert store.save(logdir / "S1/f2/a.png", A).linked_to == "S1/f1/a.png"


def test_human_bytes() -> None:
    assert human_bytes(0) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 1024 * 1024) == "5.0 MiB"


def _in_thread_now(f, *args):  # type: ignore[no-untyped-def]
    """Stands in for a thread pool: runs ``f`` at once, result in a Deferred."""
    from twisted.internet.defer import succeed

    return succeed(f(*args))


def test_save_in_thread_writes_then_links(tmp_path: Path) -> None:
    from twisted.internet.defer import Deferred

    store = ImageStore(tmp_path)
    first = Deferred.fromCoroutine(store.save_in_thread(tmp_path / "a.png", b"x" * 10, _in_thread_now))
    second = Deferred.fromCoroutine(store.save_in_thread(tmp_path / "b.png", b"x" * 10, _in_thread_now))
    saved = [first.result, second.result]  # type: ignore[attr-defined]
    assert not saved[0].linked and saved[1].linked
    assert (tmp_path / "b.png").read_bytes() == b"x" * 10
    assert store.stats()[:3] == (2, 1, 10)


def test_save_in_thread_waits_for_the_copy_being_written(tmp_path: Path) -> None:
    """Two identical images at once: the second waits for the first's write, then links."""
    from twisted.internet.defer import Deferred, succeed

    writes: list[Deferred] = []

    def in_thread(f, *args):  # type: ignore[no-untyped-def]
        if f.__name__ == "write_file":
            d: Deferred = Deferred()
            writes.append(d)
            d.addCallback(lambda _: f(*args))
            return d
        return succeed(f(*args))

    store = ImageStore(tmp_path)
    first = Deferred.fromCoroutine(store.save_in_thread(tmp_path / "a.png", b"y" * 10, in_thread))
    second = Deferred.fromCoroutine(store.save_in_thread(tmp_path / "b.png", b"y" * 10, in_thread))
    assert len(writes) == 1 and not second.called
    writes[0].callback(None)
    assert not first.result.linked  # type: ignore[attr-defined]
    assert second.result.linked  # type: ignore[attr-defined]
