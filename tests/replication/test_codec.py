"""The wire format: every message kind round-trips; bad input is refused, never guessed."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from herd.protocols.replication import (
    MAX_MESSAGE, Ack, Assignment, BadMessage, Checkpoint, ClientHello, Framer, Heartbeat, Hello,
    Launch, LogEntry, Membership, Ready, Reply, Request, Role, SendCheckpoint, format_message,
    parse, text,
)

EXAMPLES = [
    (b"<C1, S1, 101, hello_world, request>", Request("C1", "S1", 101, "hello_world")),
    (b"<C1, S1, 101, 8, reply>", Reply("C1", "S1", 101, 8)),
    (b"<LFD1, S1, 7, heartbeat>", Heartbeat("LFD1", "S1", 7)),
    (b"<L1, S1, add, membership>", Membership("L1", "S1", "add")),
    (b"<GFD, S1, delete, membership>", Membership("GFD", "S1", "delete")),
    (b"<S1, ready>", Ready("S1")),
    (b"<S1, passive, primary, ready>", Role("S1", "passive", "primary", True)),
    (b"<S2, active, backup, recover>", Role("S2", "active", "backup", False)),
    (b"<S2, active, primary, 4, ready>", Role("S2", "active", "primary", True, 4)),
    (b"<S1, S2, send_checkpoint>", SendCheckpoint("S1", "S2")),
    (b"<S1, launch>", Launch("S1")),
    (b"<S1, S2, 3, 8, C1:101:8;C2:7:6, checkpoint>",
     Checkpoint("S1", "S2", 3, 8, (("C1", 101, 8), ("C2", 7, 6)))),
    (b"<S1, S2, 1, 0, -, checkpoint>", Checkpoint("S1", "S2", 1, 0, ())),
    (b"<S1, S2, 4, 9, C3:2:9, recovery>", Checkpoint("S1", "S2", 4, 9, (("C3", 2, 9),), True)),
    (b"<S1, S2, 4, 9, -, 3, checkpoint>", Checkpoint("S1", "S2", 4, 9, (), False, 3)),
    (b"<S1, S2, C1, 101, 8, log>", LogEntry("S1", "S2", "C1", 101, 8)),
    (b"<S2, S1, 8, ack>", Ack("S2", "S1", 8)),
    (b"<S1, S2, hello>", Hello("S1", "S2")),
    (b"<C1, client>", ClientHello("C1")),
    (b"<C1, passive, S2, ready>", Assignment("C1", "passive", ("S2",))),
    (b"<C1, active, S1;S2;S3, ready>", Assignment("C1", "active", ("S1", "S2", "S3"))),
    (b"<C1, active, none, ready>", Assignment("C1", "active", ())),
]


@pytest.mark.parametrize("wire,message", EXAMPLES)
def test_examples_parse_and_format(wire: bytes, message: object) -> None:
    assert parse(wire) == message
    assert format_message(message) == wire + b"\n"  # type: ignore[arg-type]


def test_the_seeds_spacing_is_accepted() -> None:
    assert parse(b"<S1, S2, 8,hello_world, request>") == Request("S1", "S2", 8, "hello_world")
    assert parse(b"  <C1,S1,8,x,request>\n") == Request("C1", "S1", 8, "x")


def test_brief_forms_drop_the_status_string() -> None:
    assert Request("C1", "S1", 101, "hello").brief() == "<C1, S1, 101, request>"
    assert Reply("C1", "S1", 101, 8).brief() == "<C1, S1, 101, reply>"
    assert text(Launch("S3")) == "<S3, launch>"


@pytest.mark.parametrize("wire", [
    b"", b"<>", b"C1, S1, 1, x, request", b"<C1, S1, 1, x, request", b"<C1, S1, x, y, request>",
    b"<C1, S1, -1, y, request>", b"<C1, S1, 1, y, z, request>", b"<C1, S1, 1, bad string, request>",
    b"<1C, S1, 1, x, request>", b"<C1, S1, 1, 2, frobnicate>", b"<L1, S1, maybe, membership>",
    b"<S1, sideways, primary, ready>", b"<S1, S2, 1, 2, C1:1, checkpoint>",
    b"<C\xff, S1, 1, x, request>", b"<S1, S2, 1, 2, C1:1:1;C1:x:2, checkpoint>",
    b"<C1, S1, 99999999999999999999, x, request>",
])
def test_bad_messages_are_refused(wire: bytes) -> None:
    with pytest.raises(BadMessage):
        parse(wire)


def test_framer_splits_a_stream_and_reports_bad_messages_in_place() -> None:
    framer = Framer()
    out = framer.feed(b"<C1, S1, 1, a, request>\n<nonsense>\n<C1, S1, 2, b, req")
    assert out[0] == Request("C1", "S1", 1, "a")
    assert isinstance(out[1], BadMessage)
    assert framer.feed(b"uest>") == [Request("C1", "S1", 2, "b")]


def test_framer_refuses_100_kb_without_a_closing_bracket() -> None:
    framer = Framer()
    framer.feed(b"<" + b"a" * (MAX_MESSAGE - 10))
    with pytest.raises(BadMessage):
        framer.feed(b"a" * 100_000)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_framer(data: bytes) -> None:
    try:
        for item in Framer().feed(data):
            assert isinstance(item, (BadMessage, *(type(m) for _, m in EXAMPLES)))
    except BadMessage:
        pass


@given(st.sampled_from(EXAMPLES), st.integers(min_value=0, max_value=60))
def test_every_split_of_a_stream_gives_the_same_messages(example: tuple, cut: int) -> None:
    wire = format_message(example[1]) * 2
    cut = min(cut, len(wire))
    framer = Framer()
    assert framer.feed(wire[:cut]) + framer.feed(wire[cut:]) == [example[1]] * 2
