"""Filters (Pillow), password hashes, the users file and bin/imaging-passwd."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from herd.core.passwords import (BadHash, hash_password, new_token, token_digest,
                                 verify_password)
from herd.core.processes import BIN
from herd.imaging.model import JobCounts, sanitize_name
from herd.imaging.users import UsersFileError, parse_users, read_users
from herd.imaging.worker.filters import FilterError, apply
from herd.testing.imaging import frame


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_grayscale_is_an_L_png_with_r_g_b_equal(fmt: str) -> None:
    result = apply("grayscale", frame(3, (40, 30), fmt))
    image = decoded(result.data)
    assert (image.format, image.mode, image.size, result.content_type) == ("PNG", "L", (40, 30), "image/png")
    red, green, blue = image.convert("RGB").split()
    assert red.tobytes() == green.tobytes() == blue.tobytes()


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif")])
def test_blur_keeps_size_and_format_and_changes_pixels(fmt: str, mime: str) -> None:
    original = decoded(frame(5, (40, 30), fmt))
    result = apply("blur", frame(5, (40, 30), fmt))
    image = decoded(result.data)
    assert (image.format, image.size, result.content_type) == (fmt, (40, 30), mime)
    assert image.convert("RGB").tobytes() != original.convert("RGB").tobytes()
    if fmt == "PNG":
        assert image.mode == original.mode


def test_filters_refuse_garbage_and_unknown_names() -> None:
    with pytest.raises(FilterError):
        apply("blur", b"garbage")
    with pytest.raises(FilterError):
        apply("sepia", frame(1))


def test_password_hash_round_trip() -> None:
    stored = hash_password("pa:ss wörd", n=2**4)
    assert stored.startswith("scrypt$16$8$1$") and "pa:ss" not in stored
    assert verify_password("pa:ss wörd", stored)
    assert not verify_password("pa:ss word", stored)
    assert hash_password("x", n=2**4) != hash_password("x", n=2**4)  # salted
    with pytest.raises(BadHash):
        verify_password("x", "md5$abc")


def test_tokens_are_random_and_stored_as_digests() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 43 for t in tokens)
    token = tokens.pop()
    assert token_digest(token) != token and len(token_digest(token)) == 64


def test_users_file_errors_name_the_line() -> None:
    assert parse_users("# c\n\nalice:" + hash_password("a", n=2**4) + "\n").keys() == {"alice"}
    with pytest.raises(UsersFileError, match="line 2"):
        parse_users("# c\nbob:plaintext\n")


def test_imaging_passwd_adds_changes_and_deletes(tmp_path: Path) -> None:
    users = tmp_path / "users"

    def run(*args: str, password: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "imaging-passwd"), str(users), *args], input=password + "\n",
                              text=True, capture_output=True, timeout=30)

    assert run("alice", password="one").returncode == 0
    assert run("bob", password="two").returncode == 0
    first = read_users(users)["alice"]
    assert verify_password("one", first) and "one" not in users.read_text()
    assert "changed" in run("alice", password="three").stdout
    assert verify_password("three", read_users(users)["alice"])
    assert users.stat().st_mode & 0o777 == 0o600
    assert run("carol", password="").returncode == 1
    assert run("bob", "--delete").returncode == 0
    assert set(read_users(users)) == {"alice"}


def test_status_rules_and_names() -> None:
    assert JobCounts().status() == "scheduling"
    assert JobCounts(queued=1, done=3).status() == "scheduling"
    assert JobCounts(queued=1, running=1).status() == "running"
    assert JobCounts(done=3, failed=1).status() == "completed"
    assert sanitize_name("../..") == "workload" and sanitize_name("a b/c") == "a-b-c"
