"""The worker's log directory: one new folder per scan, safe names, nothing escapes."""

from pathlib import Path

import pytest

from herd.protocols.scan import ProtocolError
from herd.scan.worker.logdir import claim_scan_folder, folder_name, image_file_name, write_file

NOON = 1_795_521_600.0  # 2026-11-24 12:00:00 UTC


def test_folder_name_is_zero_padded_utc() -> None:
    assert folder_name(NOON + 3_661) == "2026-11-24-13-01-01"


def test_same_second_folders_never_merge(tmp_path: Path) -> None:
    folders = [claim_scan_folder(tmp_path, "S1", NOON) for _ in range(3)]
    assert [f.name for f in folders] == [
        "2026-11-24-12-00-00",
        "2026-11-24-12-00-00-2",
        "2026-11-24-12-00-00-3",
    ]
    assert all(f.is_dir() and f.parent == tmp_path / "S1" for f in folders)


@pytest.mark.parametrize("site_id", ["..", "../x", "a/b", "", ".hidden", "/etc"])
def test_site_id_cannot_escape(tmp_path: Path, site_id: str) -> None:
    with pytest.raises(ProtocolError):
        claim_scan_folder(tmp_path / "logs", site_id, NOON)
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://h/img/a.png", "a.png"),
        ("http://h/img/a%20b.png?x=1", "a_b.png"),
        ("http://h/", "image-7"),
        ("http://h/..", "image-7"),
        ("http://h/%2e%2e%2fetc%2fpasswd", "passwd"),
        ("http://h/" + "x" * 300 + ".png", "x" * 100),
    ],
)
def test_image_file_names_are_safe(url: str, expected: str) -> None:
    assert image_file_name(url, 7, set()) == expected


def test_image_file_names_are_unique() -> None:
    taken: set[str] = set()
    names = [image_file_name(u, i, taken) for i, u in enumerate(
        ["http://a/x.png", "http://b/x.png", "http://c/x.png"], 1)]
    assert names == ["x.png", "x-2.png", "x-3.png"]


def test_write_file_never_overwrites(tmp_path: Path) -> None:
    write_file(tmp_path / "a.png", b"first")
    with pytest.raises(FileExistsError):
        write_file(tmp_path / "a.png", b"second")
    assert (tmp_path / "a.png").read_bytes() == b"first"
