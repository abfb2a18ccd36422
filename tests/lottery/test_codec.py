"""The lottery's wire format, byte for byte, and its parser under every cut and flip."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herd.protocols.lottery import (
    MAX_FRAME,
    MAX_PAYLOAD,
    NOT_YET,
    Bet,
    ClientFrame,
    ClientKind,
    FrameError,
    FrameParser,
    InvalidBet,
    ServerFrameParser,
    ServerKind,
    acknowledge,
    batch_texts,
    batches,
    bet_text,
    betting_results,
    encode_batch,
    parse_batch,
    parse_bet,
    parse_documents,
    parse_uint32,
)

BET = b"Santiago Lionel,Lorca,30904465,1999-03-17,2201"


def test_header_layout_is_kind_agency_size_little_endian() -> None:
    frame = ClientFrame(ClientKind.BET_BATCH, 3, b"abc").encode()
    assert frame == b"\x01" + b"\x03\x00\x00\x00" + b"\x03\x00\x00\x00" + b"abc"
    assert acknowledge(0x01020304).encode() == b"\x00\x04\x00\x00\x00\x04\x03\x02\x01"
    assert NOT_YET.encode() == b"\x01\x01\x00\x00\x00\x00"
    assert betting_results(["1", "002"]).encode() == b"\x02\x05\x00\x00\x001,002"
    assert betting_results([]).encode() == b"\x02\x00\x00\x00\x00"


def test_a_bet_keeps_its_document_exactly() -> None:
    bet = parse_bet(b"Ana,Paz,00000042,2000-02-29,7574")
    assert bet == Bet("Ana", "Paz", "00000042", "2000-02-29", 7574)
    assert bet.encode() == b"Ana,Paz,00000042,2000-02-29,7574"
    assert parse_bet("Tiago Nicolás,Saldaña,1,1986-09-19,0".encode()).first_name == "Tiago Nicolás"


@pytest.mark.parametrize(
    "data, says",
    [
        (b"Ana,Paz,42,2000-01-01", "4 fields instead of 5"),
        (b"Ana,Paz,42,2000-01-01,1,2", "6 fields"),
        (b"Ana,Paz,4x2,2000-01-01,1", "document"),
        (b"Ana,Paz,,2000-01-01,1", "document"),
        (b"Ana,Paz,42,2000-01-01,-1", "number"),
        (b"Ana,Paz,42,2000-01-01,4294967296", "number"),
        (b"Ana,Paz,42,2001-02-29,1", "not a valid date"),
        (b"Ana,Paz,42,01-02-2001,1", "not YYYY-MM-DD"),
        (b"Ana,,42,2000-01-01,1", "last name"),
        (b"A\nna,Paz,42,2000-01-01,1", "first name"),
        (b"An\xffa,Paz,42,2000-01-01,1", "not UTF-8"),
    ],
)
def test_bad_bets_are_refused_saying_why(data: bytes, says: str) -> None:
    with pytest.raises(InvalidBet, match=says):
        parse_bet(data)


def test_a_batch_with_one_bad_bet_is_refused_naming_it_and_counting_all() -> None:
    payload = encode_batch([BET, b"Ana,Paz,42,2000-13-01,1", BET])
    with pytest.raises(InvalidBet, match="bet 2 of 3") as caught:
        parse_batch(payload)
    assert caught.value.count == 3
    with pytest.raises(InvalidBet, match="claims"):
        parse_batch(struct.pack("<I", 100) + BET)
    with pytest.raises(InvalidBet, match="at least one bet"):
        parse_batch(b"")


def test_batches_hold_max_amount_unless_8kb_would_be_passed() -> None:
    bets = [BET] * 1000
    sizes = [count for count, _ in batches(bets, 100)]
    assert sizes == [100] * 10
    whole = [(count, payload) for count, payload in batches(bets, 1000)]
    per_frame = MAX_PAYLOAD // (4 + len(BET))
    assert [count for count, _ in whole][:-1] == [per_frame] * (len(whole) - 1)
    assert all(9 + len(payload) <= MAX_FRAME for _, payload in whole)
    assert sum(count for count, _ in whole) == 1000
    assert [count for count, _ in batches(bets[:7], 3)] == [3, 3, 1]
    assert parse_batch(whole[0][1])[0] == parse_bet(BET)


def test_the_parser_refuses_an_oversized_size_before_its_payload() -> None:
    parser = FrameParser()
    header = struct.pack("<BII", 1, 1, MAX_PAYLOAD + 1)
    with pytest.raises(FrameError, match="over the limit"):
        list(parser.feed(header))
    assert list(FrameParser().feed(struct.pack("<BII", 1, 1, MAX_PAYLOAD))) == []
    with pytest.raises(FrameError, match="unknown frame kind 9"):
        list(FrameParser().feed(struct.pack("<BII", 9, 1, 0)))


def test_frames_before_a_bad_header_come_out_first() -> None:
    good = ClientFrame(ClientKind.GET_WINNERS, 2).encode()
    parser = FrameParser()
    out = []
    with pytest.raises(FrameError):
        for frame in parser.feed(good + struct.pack("<BII", 7, 1, 0)):
            out.append(frame)
    assert out == [ClientFrame(ClientKind.GET_WINNERS, 2)]


def test_server_frames_parse_back() -> None:
    parser = ServerFrameParser()
    data = acknowledge(7574).encode() + NOT_YET.encode() + betting_results(["1", "2"]).encode()
    frames = parser.feed(data[:7]) + parser.feed(data[7:])
    assert parse_uint32(frames[0]) == 7574
    assert frames[1] == NOT_YET
    assert frames[2].kind is ServerKind.BETTING_RESULTS and parse_documents(frames[2].payload) == ["1", "2"]
    assert parse_documents(b"") == []


# Properties.

names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=","), min_size=1, max_size=30
)
bets = st.builds(
    Bet,
    names,
    names,
    st.from_regex(r"[0-9]{1,20}", fullmatch=True),
    st.dates().map(lambda d: d.isoformat()).filter(lambda t: len(t) == 10),
    st.integers(0, 2**32 - 1),
)
frames = st.one_of(
    st.builds(lambda b, a: ClientFrame(ClientKind.POST_BET, a, b.encode()), bets, st.integers(0, 2**32 - 1)),
    st.builds(
        lambda bs, a: ClientFrame(ClientKind.BET_BATCH, a, encode_batch(b.encode() for b in bs)),
        st.lists(bets, min_size=1, max_size=20),
        st.integers(0, 2**32 - 1),
    ),
    st.builds(lambda k, a: ClientFrame(k, a), st.sampled_from([ClientKind.BET_BATCH_END, ClientKind.GET_WINNERS]),
              st.integers(0, 2**32 - 1)),
)


@settings(max_examples=100, deadline=None)
@given(bets)
def test_every_bet_round_trips(bet: Bet) -> None:
    assert parse_bet(bet.encode()) == bet


@settings(max_examples=80, deadline=None)
@given(st.lists(frames, min_size=1, max_size=5), st.data())
def test_any_chunking_of_a_stream_gives_the_same_frames(stream: list[ClientFrame], data: st.DataObject) -> None:
    raw = b"".join(frame.encode() for frame in stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    parser = FrameParser()
    out: list[ClientFrame] = []
    for start, end in zip([0, *cuts], [*cuts, len(raw)]):
        out.extend(parser.feed(raw[start:end]))
    assert out == stream
    assert parser.truncation() is None
    for frame in out:
        if frame.kind is ClientKind.BET_BATCH:
            parse_batch(frame.payload)


@settings(max_examples=80, deadline=None)
@given(frames, st.data())
def test_every_truncation_of_a_frame_is_refused(frame: ClientFrame, data: st.DataObject) -> None:
    raw = frame.encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    parser = FrameParser()
    assert list(parser.feed(raw[:cut])) == []
    assert (parser.truncation() is None) == (cut == 0)


@settings(max_examples=80, deadline=None)
@given(frames, st.data())
def test_a_flipped_byte_never_crashes_the_parser(frame: ClientFrame, data: st.DataObject) -> None:
    raw = bytearray(frame.encode())
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    parser = FrameParser()
    try:
        for parsed in parser.feed(bytes(raw)):
            if parsed.kind is ClientKind.BET_BATCH:
                parse_batch(parsed.payload)
            elif parsed.kind is ClientKind.POST_BET:
                parse_bet(parsed.payload)
    except (FrameError, InvalidBet):
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(bets, min_size=1, max_size=150), st.integers(1, 200))
def test_batches_carry_every_bet_once_in_order(some: list[Bet], max_amount: int) -> None:
    encoded = [bet.encode() for bet in some]
    out: list[Bet] = []
    for count, payload in batches(encoded, max_amount):
        assert 9 + len(payload) <= MAX_FRAME
        parsed = parse_batch(payload)
        assert len(parsed) == count <= max_amount
        out.extend(parsed)
    assert out == some


@settings(max_examples=100, deadline=None)
@given(bets)
def test_the_fast_path_gives_the_bet_back_as_text(bet: Bet) -> None:
    assert bet_text(bet.encode()) == bet.encode().decode()
    assert batch_texts(encode_batch([bet.encode()])) == [bet.encode().decode()]


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.binary(max_size=80),
    st.lists(st.sampled_from(["Ana", "", "0042", "x1", "2000-02-29", "2001-02-29", "1999-13-01",
                              "7574", "007574", "4294967296", "a\nb", 'O"Neil', "Ñandú"]),
             min_size=1, max_size=7).map(lambda fields: ",".join(fields).encode()),
))
def test_the_fast_path_accepts_exactly_what_parse_bet_accepts(data: bytes) -> None:
    try:
        bet = parse_bet(data)
    except InvalidBet:
        with pytest.raises(InvalidBet):
            bet_text(data)
    else:
        assert bet_text(data) == bet.encode().decode()


odd_bets = st.lists(st.sampled_from(["Ana", "", "0042", "x1", "2000-02-29", "2001-02-29", "0", "7574",
                                     "007574", "4294967295", "4294967296", 'O"Neil', "Ñandú"]),
                    min_size=5, max_size=5).map(lambda fields: ",".join(fields).encode())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(bets.map(Bet.encode), odd_bets), min_size=1, max_size=8))
def test_a_batch_is_accepted_exactly_when_each_of_its_bets_is(raw: list[bytes]) -> None:
    try:
        expected = [bet_text(item) for item in raw]
    except InvalidBet:
        with pytest.raises(InvalidBet, match="bet [0-9]+ of"):
            batch_texts(encode_batch(raw))
    else:
        assert batch_texts(encode_batch(raw)) == expected
