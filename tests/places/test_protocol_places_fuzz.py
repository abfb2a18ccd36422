"""Property tests for the places wire format: the parser never crashes, IAMAT → AT → parse
round-trips byte-exact, the time difference is exact and plain, ``? <line>`` echoes verbatim."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from hypothesis import example, given, settings, strategies as st

from herd.protocols.places import (
    MAX_BOUND,
    MAX_RADIUS_KM,
    WHITESPACE,
    At,
    IAmAt,
    InvalidCommand,
    PeerHello,
    WhatsAt,
    at_for,
    fields_of,
    invalid_reply,
    parse_command,
    whatsat_reply,
)

FUZZ = settings(max_examples=300, deadline=None)

SERVERS = [b"Goloman", b"Hands", b"Holiday", b"Welsh", b"Wilkes"]
PLAIN_SIGNED = re.compile(rb"[+-]\d+\.\d{9}\Z")
NON_WHITE_BYTE = st.integers(0, 255).filter(lambda b: b not in WHITESPACE)

white = st.text(alphabet=" \t\r\n\f\v", min_size=1, max_size=4).map(str.encode)
maybe_white = st.text(alphabet=" \t\r\n\f\v", max_size=4).map(str.encode)

clients = st.one_of(
    st.lists(NON_WHITE_BYTE, min_size=1, max_size=60).map(bytes),  # incl. invalid UTF-8
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=" \t\r\n\f\v"),
        min_size=1,
        max_size=30,
    ).map(lambda s: s.encode("utf-8")),
)


def signed(value: float, decimals: int) -> bytes:
    return f"{value:+.{decimals}f}".encode("ascii")


@st.composite
def locations(draw) -> tuple[bytes, float, float]:
    lat = draw(st.floats(-90, 90))
    lon = draw(st.floats(-180, 180))
    text = signed(lat, draw(st.integers(0, 12))) + signed(lon, draw(st.integers(0, 12)))
    return text, lat, lon


@st.composite
def posix_times(draw) -> bytes:
    whole = draw(st.text(alphabet="0123456789", min_size=1, max_size=12))
    fraction = draw(st.none() | st.text(alphabet="0123456789", min_size=1, max_size=9))
    return (whole if fraction is None else f"{whole}.{fraction}").encode("ascii")


@st.composite
def server_clocks(draw) -> Decimal:
    nanoseconds = draw(st.integers(0, 10**19))
    return Decimal(nanoseconds).scaleb(-draw(st.integers(0, 9)))


@st.composite
def iamat_lines(draw) -> tuple[bytes, bytes, bytes, bytes]:
    client = draw(clients)
    location, _, _ = draw(locations())
    sent = draw(posix_times())
    line = (draw(maybe_white) + b"IAMAT" + draw(white) + client + draw(white) + location
            + draw(white) + sent + draw(maybe_white))
    return line, client, location, sent


# Lines built from the protocol's own pieces, to get past the verb check often.
TOKENS = [b"IAMAT", b"WHATSAT", b"AT", b"PEER", b"iamat", b"?", b"kiwi", b"\xff\xfe",
          "ünï".encode(), b"\xc2\xa0", b"+34.068930-118.445127", b"+91-0", b"+90+180",
          b"-90-180", b"34-118", b"+abc-def", b"1520023934.918963997", b"1e9", b"0", b"-1",
          b"20", b"21", b"50", b"50.0001", b"2.5", b"+0.263873386", b"-0.5", b"Goloman",
          b"Golo/man", b"", b".", b"+", b"-", b"9" * 50, b"\x00"]
token_lines = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from([b" ", b"\t", b"\r\n", b"\v", b"",
                                                        b"\f\f", b"\xc2\xa0"])),
    max_size=8,
).map(lambda parts: b"".join(token + sep for token, sep in parts))


# ---------------------------------------------------------------------------------------
# The parser never crashes
# ---------------------------------------------------------------------------------------


def parses_or_refuses(line: bytes) -> None:
    try:
        command = parse_command(line)
    except InvalidCommand:
        return
    assert isinstance(command, (IAmAt, WhatsAt, At, PeerHello))
    if isinstance(command, WhatsAt):
        assert 0 < command.radius_km <= MAX_RADIUS_KM
        assert 0 <= command.bound <= MAX_BOUND
    if isinstance(command, (IAmAt, At)):
        assert -90 <= command.location.latitude <= 90
        assert -180 <= command.location.longitude <= 180


@FUZZ
@given(st.binary(max_size=5000))
@example(b"")
@example(b"\xff" * 5000)
@example(b"WHATSAT k 10 " + b"9" * 4300)
@example(b"IAMAT k +1" + b"0" * 400 + b"-0 1")
def test_parse_command_on_arbitrary_bytes(line):
    parses_or_refuses(line)


@FUZZ
@given(token_lines)
def test_parse_command_on_lines_of_protocol_pieces(line):
    parses_or_refuses(line)


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=20).map(lambda b: b.translate(None, WHITESPACE))
                .filter(bool), max_size=8), st.data())
def test_fields_split_on_any_white_space(fields, data):
    line = data.draw(maybe_white)
    for field in fields:
        line += field + data.draw(white)
    assert fields_of(line) == fields


# ---------------------------------------------------------------------------------------
# IAMAT → AT → parse
# ---------------------------------------------------------------------------------------


@FUZZ
@given(iamat_lines(), st.sampled_from(SERVERS), server_clocks())
@example((b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997",
          b"kiwi.cs.ucla.edu", b"+34.068930-118.445127", b"1520023934.918963997"),
         b"Goloman", Decimal("1520023935.182837383"))
@example((b"IAMAT \xff\xfe +90-180 0", b"\xff\xfe", b"+90-180", b"0"), b"Hands", Decimal(0))
@example((b"IAMAT x -90.0+180.0 999999999999.999999999", b"x", b"-90.0+180.0",
          b"999999999999.999999999"), b"Wilkes", Decimal("1E-9"))
def test_iamat_round_trips_through_at(iamat_line, server, received):
    line, client, location, sent = iamat_line
    command = parse_command(line)
    assert command == IAmAt(client, command.location, sent)
    assert command.location.text == location

    at = at_for(server, received, command)
    assert b"e" not in at.difference and b"E" not in at.difference
    assert PLAIN_SIGNED.match(at.difference)
    # sent has at most 9 decimals and received too: the difference is exact
    assert Decimal(at.difference.decode("ascii")) == received - Decimal(sent.decode("ascii"))

    out = at.to_line()
    assert out == b" ".join((b"AT", server, at.difference, client, location, sent))
    assert len(fields_of(out)) == 6
    back = parse_command(out)
    assert isinstance(back, At)
    assert back == at
    assert (back.client, back.location, back.sent) == (client, command.location, sent)
    assert back.to_line() == out


# ---------------------------------------------------------------------------------------
# "? <line>" and WHATSAT replies
# ---------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=5000))
def test_invalid_reply_echoes_verbatim(line):
    reply = invalid_reply(line)
    assert reply.startswith(b"? ")
    assert line in reply
    assert reply == b"? " + line + b"\n"


json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                  allow_infinity=False) | st.text()
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(
    st.dictionaries(st.text().filter(lambda k: k != "results"), json_values, max_size=5),
    st.lists(st.dictionaries(st.text(), json_values, max_size=4), max_size=25),
    st.integers(0, MAX_BOUND),
)
def test_whatsat_reply_is_valid_and_squeezed(extra, results, bound):
    at = at_for(b"Goloman", Decimal("1520023935.182837383"),
                parse_command(b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1"))
    response = {**extra, "results": results}
    reply = whatsat_reply(at, response, bound)
    assert reply.endswith(b"\n\n") and not reply.endswith(b"\n\n\n")
    assert b"\n\n" not in reply[:-2]
    at_line, body = reply[:-2].split(b"\n", 1)
    assert at_line == at.to_line()
    decoded = json.loads(body.decode("utf-8"))
    assert decoded == {**extra, "results": results[:bound]}
