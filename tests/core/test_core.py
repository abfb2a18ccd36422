"""herd.core: the failure detector, tokens and allow-lists."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from herd.core.allowlist import AllowList
from herd.core.failure import FailureDetector
from herd.core.tokens import TokenError, Tokens, load_secret


def test_failure_detector_suspects_once_and_recovers() -> None:
    clock = Clock()
    events: list[tuple[str, str]] = []
    detector = FailureDetector(clock, 10, lambda p: events.append(("down", p)),
                               lambda p: events.append(("up", p)), interval=1)
    detector.start()
    detector.heard("a")
    detector.heard("b")
    for _ in range(8):
        clock.advance(1.5)
        detector.heard("b")
    assert events == [("down", "a")]
    assert detector.suspected("a") and not detector.suspected("b")
    clock.advance(5)
    assert events == [("down", "a")]  # reported once
    detector.heard("a")
    assert events == [("down", "a"), ("up", "a")]
    detector.forget("b")
    clock.advance(60)
    assert events[-1] == ("down", "a") and ("down", "b") not in events
    detector.stop()
    assert clock.getDelayedCalls() == []


def test_tokens_round_trip_and_refusals() -> None:
    clock = Clock()
    clock.advance(1_000_000)
    tokens = Tokens(b"secret", clock, window=30)
    token = tokens.make(b"HEARTBEAT w1 running=0")
    tokens.check(b"HEARTBEAT w1 running=0", token)
    with pytest.raises(TokenError, match="replayed"):
        tokens.check(b"HEARTBEAT w1 running=0", token)
    with pytest.raises(TokenError, match="bad token"):
        tokens.check(b"HEARTBEAT w1 running=1", tokens.make(b"HEARTBEAT w1 running=0"))
    with pytest.raises(TokenError, match="missing"):
        tokens.check(b"x", None)
    with pytest.raises(TokenError, match="malformed"):
        tokens.check(b"x", "soon:abc")
    old = tokens.make(b"x")
    clock.advance(31)
    with pytest.raises(TokenError, match="expired"):
        tokens.check(b"x", old)


def test_load_secret(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HERD_SECRET", raising=False)
    assert load_secret(None) is None
    monkeypatch.setenv("HERD_SECRET", " from-env ")
    assert load_secret(None) == b"from-env"
    (tmp_path / "secret").write_text("from-file\n")
    assert load_secret(str(tmp_path / "secret")) == b"from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_secret(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="cannot read"):
        load_secret(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "allowed, host, expected",
    [
        (None, "203.0.113.9", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("10.0.0.0/8, 192.168.1.0/24", "10.200.3.4", True),
        ("10.0.0.0/8 192.168.1.0/24", "192.168.2.1", False),
        ("::1", "::1", True),
        ("127.0.0.0/8", "::ffff:127.0.0.5", True),
        ("127.0.0.0/8", "not-an-ip", False),
    ],
)
def test_allow_list(allowed, host, expected) -> None:
    assert AllowList.parse(allowed).allows(host) is expected


def test_allow_list_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not an address"):
        AllowList.parse("10.0.0.0/33")
