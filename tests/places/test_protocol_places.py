"""The places herd's wire format (``herd.protocols.places``), against the project spec.

IAMAT and WHATSAT from clients, AT lines (answers, and the flood between servers), the
servers' PEER greeting, ``? <line>`` for anything invalid, and the WHATSAT reply body: the
stored AT line, Google's Nearby Search JSON with runs of newlines squeezed, then two newlines.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, localcontext

import pytest

from herd.protocols.places import (
    MAX_BOUND,
    MAX_LINE,
    MAX_RADIUS_KM,
    WHITESPACE,
    At,
    IAmAt,
    InvalidCommand,
    Location,
    PeerHello,
    WhatsAt,
    at_for,
    fields_of,
    format_difference,
    invalid_reply,
    now_decimal,
    parse_command,
    parse_location,
    whatsat_reply,
)

EXAMPLE_IAMAT = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997"
EXAMPLE_AT = b"AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997"
EXAMPLE_RECEIVED = Decimal("1520023935.182837383")
EXAMPLE_LOCATION = Location(b"+34.068930-118.445127", 34.068930, -118.445127)
EXAMPLE = IAmAt(b"kiwi.cs.ucla.edu", EXAMPLE_LOCATION, b"1520023934.918963997")

PLAIN_SIGNED = re.compile(rb"[+-]\d+\.\d{9}\Z")


def iamat(client: bytes = b"kiwi.cs.ucla.edu", location: bytes = b"+34.068930-118.445127",
          sent: bytes = b"1520023934.918963997") -> bytes:
    return b"IAMAT " + client + b" " + location + b" " + sent


def refused(line: bytes) -> None:
    with pytest.raises(InvalidCommand):
        parse_command(line)


def example_at() -> At:
    return at_for(b"Goloman", EXAMPLE_RECEIVED, parse_command(EXAMPLE_IAMAT))


# --------------------------------------------------------------------------------------
# IAMAT and the AT answer
# --------------------------------------------------------------------------------------


def test_spec_example_iamat_parses():
    command = parse_command(EXAMPLE_IAMAT)
    assert isinstance(command, IAmAt)
    assert command.client == b"kiwi.cs.ucla.edu"
    assert command.location.text == b"+34.068930-118.445127"
    assert command.location.latitude == 34.068930
    assert command.location.longitude == -118.445127
    assert command.sent == b"1520023934.918963997"
    assert command.timestamp == Decimal("1520023934.918963997")
    assert command == EXAMPLE


def test_spec_example_at_line_exactly():
    at = example_at()
    assert at.to_line() == EXAMPLE_AT
    assert at.server == b"Goloman"
    assert at.difference == b"+0.263873386"
    assert at.client == b"kiwi.cs.ucla.edu"
    assert at.location == EXAMPLE_LOCATION
    assert at.sent == b"1520023934.918963997"
    assert len(at.to_line().split()) == 6
    assert not at.to_line().endswith(b"\n")


def test_client_clock_ahead_gives_negative_difference():
    command = parse_command(iamat(sent=b"1520023936.000000000"))
    line = at_for(b"Goloman", EXAMPLE_RECEIVED, command).to_line()
    assert line == (
        b"AT Goloman -0.817162617 kiwi.cs.ucla.edu +34.068930-118.445127 1520023936.000000000"
    )


@pytest.mark.parametrize(
    "received, sent, difference",
    [
        (Decimal("1520023934.000000001"), b"1520023934", b"+0.000000001"),
        (Decimal("1520023934"), b"1520023934.000000001", b"-0.000000001"),
        (Decimal("1E-9"), b"0", b"+0.000000001"),
        (Decimal("0"), b"0", b"+0.000000000"),
        (Decimal("1520023934.918963997"), b"1520023934.918963997", b"+0.000000000"),
        (Decimal("1E+9"), b"0", b"+1000000000.000000000"),
        (Decimal("1000000000"), b"0.0", b"+1000000000.000000000"),
        (Decimal("0"), b"1000000000", b"-1000000000.000000000"),
        (Decimal("2520023934.918963997"), b"1520023934.918963997", b"+1000000000.000000000"),
        (Decimal("1520023934.5"), b"1", b"+1520023933.500000000"),
        (Decimal("1520023934.5"), b"99999999999999", b"-99998479976064.500000000"),
        (Decimal("1E+10"), b"0.000000001", b"+9999999999.999999999"),
        # more precise than a nanosecond: rounded to the nanosecond
        (Decimal("1.0000000004"), b"0", b"+1.000000000"),
        (Decimal("1.0000000016"), b"0", b"+1.000000002"),
    ],
)
def test_difference_is_a_signed_plain_decimal(received, sent, difference):
    at = at_for(b"Goloman", received, parse_command(iamat(sent=sent)))
    assert at.difference == difference
    line = at.to_line()
    assert b"e" not in line.split()[2] and b"E" not in line.split()[2]
    assert b"E" not in line and b"e" not in line.replace(b"kiwi.cs.ucla.edu", b"")
    assert len(line.split()) == 6
    assert line.split()[4:] == [b"+34.068930-118.445127", sent]  # echoed as sent


def test_difference_below_half_a_nanosecond_negative_is_still_plain():
    # Rounds to zero; the sign may be "-" (Decimal keeps the sign of zero), but it is a plain
    # signed decimal that the AT parser takes back.
    difference = format_difference(Decimal("1.0000000000"), Decimal("1.0000000001"))
    assert PLAIN_SIGNED.match(difference)
    assert Decimal(difference.decode()) == 0


@pytest.mark.parametrize(
    "received, sent",
    [
        (Decimal("1E-9"), Decimal("0")),
        (Decimal("0E-30"), Decimal("0")),
        (Decimal("1E+9"), Decimal("0")),
        (Decimal("0"), Decimal("1E+9")),
        (Decimal("1E+12"), Decimal("1E-12")),
        (Decimal("1520023935.182837383"), Decimal("1520023934.918963997")),
    ],
)
def test_format_difference_never_uses_exponent(received, sent):
    difference = format_difference(received, sent)
    assert b"e" not in difference and b"E" not in difference
    assert PLAIN_SIGNED.match(difference)
    assert Decimal(difference.decode()) == (received - sent).quantize(Decimal("1E-9"))


@pytest.mark.parametrize(
    "sent",
    [b"1520023934", b"1520023934.9", b"+1520023934.918963997", b"-5", b"0", b"0000.5",
     b"1520023934.918963997123456"],
)
def test_time_echoed_exactly_as_sent(sent):
    command = parse_command(iamat(sent=sent))
    assert command.sent == sent
    assert at_for(b"Goloman", EXAMPLE_RECEIVED, command).to_line().endswith(b" " + sent)


@pytest.mark.parametrize(
    "location",
    [b"+34.068930-118.445127", b"+34-118", b"+034.0000000-000118.4", b"-0.0+0.0",
     b"+00.000001-179.999999"],
)
def test_coordinates_echoed_exactly_as_sent(location):
    command = parse_command(iamat(location=location))
    assert command.location.text == location
    assert at_for(b"Goloman", EXAMPLE_RECEIVED, command).to_line().split()[4] == location


# --------------------------------------------------------------------------------------
# White space
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        EXAMPLE_IAMAT,
        b"IAMAT\tkiwi.cs.ucla.edu\t+34.068930-118.445127\t1520023934.918963997",
        b"IAMAT\rkiwi.cs.ucla.edu\r+34.068930-118.445127\r1520023934.918963997",
        b"IAMAT\nkiwi.cs.ucla.edu\n+34.068930-118.445127\n1520023934.918963997",
        b"IAMAT\fkiwi.cs.ucla.edu\f+34.068930-118.445127\f1520023934.918963997",
        b"IAMAT\vkiwi.cs.ucla.edu\v+34.068930-118.445127\v1520023934.918963997",
        b"IAMAT   kiwi.cs.ucla.edu \t\r\n\f\v +34.068930-118.445127\t\t1520023934.918963997",
        b"   IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997",
        b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997   ",
        b" \t\r\n\f\vIAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997\v\f\n\r\t ",
        EXAMPLE_IAMAT + b"\r",
        EXAMPLE_IAMAT + b"\r\n",
        EXAMPLE_IAMAT + b"\n\n\n",
        b"\n\nIAMAT\n\nkiwi.cs.ucla.edu\r\n+34.068930-118.445127\v\f1520023934.918963997",
    ],
    ids=["space", "tab", "cr", "lf", "ff", "vt", "mixed-runs", "leading", "trailing",
         "both-all-kinds", "trailing-cr", "trailing-crlf", "trailing-lfs", "newlines-inside"],
)
def test_every_white_space_variant_parses_the_same(line):
    assert parse_command(line) == EXAMPLE
    assert at_for(b"Goloman", EXAMPLE_RECEIVED, parse_command(line)).to_line() == EXAMPLE_AT


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"WHATSAT\tkiwi.cs.ucla.edu\v10\f5\r\n", WhatsAt(b"kiwi.cs.ucla.edu", Decimal(10), 5)),
        (b"  PEER\t\tHands \r", PeerHello(b"Hands")),
        (b"\vAT\tGoloman  +0.263873386\fkiwi.cs.ucla.edu\r+34.068930-118.445127\n"
         b"1520023934.918963997 ", None),
    ],
)
def test_white_space_variants_for_the_other_verbs(line, expected):
    if expected is None:
        expected = example_at()
    assert parse_command(line) == expected


@pytest.mark.parametrize(
    "line, fields",
    [
        (b"", []),
        (b" \t\r\n\f\v", []),
        (b"a", [b"a"]),
        (b" a  b\tc\r\nd\fe\vf ", [b"a", b"b", b"c", b"d", b"e", b"f"]),
        # Not white space per the spec: NUL, the C0 separators, DEL, NEL, NBSP (bytes and UTF-8),
        # and Unicode spaces such as U+2028 and U+3000.
        (b"a\x00b \x1c\x1d\x1e\x1f \x7f \x85 \xa0", [b"a\x00b", b"\x1c\x1d\x1e\x1f", b"\x7f",
                                                     b"\x85", b"\xa0"]),
        ("x\u00a0y z\u2028w \u3000".encode(), ["x\u00a0y".encode(), "z\u2028w".encode(),
                                               "\u3000".encode()]),
    ],
)
def test_fields_of(line, fields):
    assert fields_of(line) == fields


def test_white_space_is_exactly_the_six_characters():
    assert sorted(WHITESPACE) == sorted(b" \t\r\n\f\v")


# --------------------------------------------------------------------------------------
# Client ids: any run of non-white-space bytes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "client",
    [
        "ünïcødé".encode(),
        "📱🛰️".encode(),
        "客户端-東京".encode(),
        "пример.рф".encode(),
        b"\xff\xfe",
        b"\xc3\x28\xa0\xa1\x80",  # invalid UTF-8 continuation/lead bytes
        b"kiwi\xc2\xa0cs",  # U+00A0 NO-BREAK SPACE: part of the id
        "a\u2003b\u3000c".encode(),  # Unicode spaces: part of the id too
        b"\x00\x01\x1c\x7f",
        b"x" * 1000,
        b"IAMAT",
        b"+34.068930-118.445127",
        b"?",
    ],
    ids=["latin", "emoji", "cjk", "cyrillic", "ff-fe", "bad-utf8", "nbsp", "em-space",
         "control", "long", "verb-like", "coordinate-like", "question-mark"],
)
def test_client_id_kept_byte_exact(client):
    command = parse_command(iamat(client=client))
    assert command.client == client
    line = at_for(b"Goloman", EXAMPLE_RECEIVED, command).to_line()
    assert line == b"AT Goloman +0.263873386 " + client + (
        b" +34.068930-118.445127 1520023934.918963997"
    )
    assert len(fields_of(line)) == 6
    back = parse_command(line)
    assert isinstance(back, At) and back.client == client
    whatsat = parse_command(b"WHATSAT " + client + b" 10 5")
    assert whatsat == WhatsAt(client, Decimal(10), 5)


def test_nbsp_is_not_a_separator():
    # "IAMAT<NBSP>kiwi ..." is a three-field line whose verb is not IAMAT.
    refused(b"IAMAT\xc2\xa0kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997")
    # and a trailing NBSP is part of the time, which is then not a number
    refused(EXAMPLE_IAMAT + b"\xc2\xa0")
    # but a trailing NBSP on the client id stays in the id
    assert parse_command(iamat(client=b"kiwi\xc2\xa0")).client == b"kiwi\xc2\xa0"


# --------------------------------------------------------------------------------------
# Invalid commands
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"   \t  ",
        b"HELLO kiwi +34.068930-118.445127 1520023934.918963997",
        b"XIAMAT kiwi +34.068930-118.445127 1520023934.918963997",
        b"IAMATkiwi +34.068930-118.445127 1520023934.918963997",
        b"? IAMAT kiwi +34.068930-118.445127 1520023934.918963997",
        b"\xff\xfe kiwi +34.068930-118.445127 1520023934.918963997",
        # verbs are case-sensitive, as in the spec
        b"iamat kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997",
        b"Iamat kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997",
        b"whatsat kiwi.cs.ucla.edu 10 5",
        b"WhatsAt kiwi.cs.ucla.edu 10 5",
        b"at Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997",
        b"peer Goloman",
    ],
    ids=["empty", "blank", "unknown", "prefixed", "glued", "echoed-reply", "binary-verb",
         "iamat", "Iamat", "whatsat", "WhatsAt", "at", "peer"],
)
def test_unknown_verbs_refused(line):
    refused(line)


@pytest.mark.parametrize(
    "line",
    [
        b"IAMAT",
        b"IAMAT kiwi",
        b"IAMAT kiwi +34.068930-118.445127",
        b"IAMAT kiwi +34.068930-118.445127 ",  # empty time: only three fields
        b"IAMAT kiwi +34.068930-118.445127 1520023934.918963997 extra",
        b"IAMAT kiwi x +34.068930-118.445127 1520023934.918963997",
        b"IAMAT kiwi + 34.068930 -118.445127 1520023934.918963997",
        b"WHATSAT",
        b"WHATSAT kiwi",
        b"WHATSAT kiwi 10",
        b"WHATSAT kiwi 10 5 5",
        b"AT",
        b"AT Goloman +0.263873386 kiwi +34.068930-118.445127",
        b"AT Goloman +0.263873386 kiwi +34.068930-118.445127 1520023934.918963997 x",
        b"PEER",
        b"PEER Goloman Hands",
    ],
)
def test_wrong_number_of_fields_refused(line):
    refused(line)


@pytest.mark.parametrize(
    "location",
    [
        b"34.068930-118.445127",  # no signs
        b"34.068930118.445127",
        b"+34.068930118.445127",  # one sign
        b"34.068930+118.445127",
        b"+91.0+0.0",
        b"-91.0+0.0",
        b"+0.0-181.0",
        b"+0.0+181.0",
        b"+90.000001+0",
        b"+0-180.000001",
        b"+abc-def",
        b"++34-118",
        b"+34.-118",
        b"+.5-118",
        b"+34.0e1-118",
        b"+34,5-118,4",
        b"+34-118-5",
        b"+34",
        b"+34.068930-118.445127x",
        b"x+34.068930-118.445127",
        b"+\xd9\xa3\xd9\xa4-118",  # Arabic-Indic digits
        b"+inf-118",
        b"+nan-118",
        b"+1" + b"0" * 400 + b"-118",
    ],
)
def test_bad_coordinates_refused(location):
    refused(iamat(location=location))
    with pytest.raises(InvalidCommand):
        parse_location(location)


@pytest.mark.parametrize(
    "location, latitude, longitude",
    [
        (b"+90+180", 90.0, 180.0),
        (b"-90-180", -90.0, -180.0),
        (b"+90.000000-180.000000", 90.0, -180.0),
        (b"-90.0+180.0", -90.0, 180.0),
        (b"+0+0", 0.0, 0.0),
        (b"-0.0-0.0", 0.0, 0.0),
        (b"+34.068930-118.445127", 34.068930, -118.445127),
    ],
)
def test_coordinate_boundaries_accepted(location, latitude, longitude):
    command = parse_command(iamat(location=location))
    assert command.location == Location(location, latitude, longitude)


@pytest.mark.parametrize(
    "sent",
    [b"abc", b"1e9", b"1E9", b"1.5e9", b"1520023934.", b".5", b"0x10", b"1_000", b"inf",
     b"nan", b"Infinity", b"1520023934,5", b"++1", b"1-", b"\xd9\xa1\xd9\xa2",
     b"1520023934.918963997s", b"1.2.3"],
)
def test_bad_times_refused(sent):
    refused(iamat(sent=sent))
    refused(b"AT Goloman +0.263873386 kiwi +34.068930-118.445127 " + sent)


@pytest.mark.parametrize(
    "radius",
    [b"0", b"0.0", b"00", b"-1", b"-0.5", b"50.0001", b"50.000000000000000000000000001",
     b"51", b"1000", b"abc", b"1e1", b"1E1", b"10.", b".5", b"+10", b"inf", b"nan", b"1_0",
     b"\xd9\xa1\xd9\xa0"],
)
def test_bad_radius_refused(radius):
    refused(b"WHATSAT kiwi.cs.ucla.edu " + radius + b" 5")


@pytest.mark.parametrize(
    "bound", [b"-1", b"21", b"100", b"2.5", b"5.0", b"abc", b"+5", b"1e1", b"1_0", b"0x5",
              b"\xd9\xa5", b"\xef\xbc\x95", b"9" * 4000],
)
def test_bad_bound_refused(bound):
    refused(b"WHATSAT kiwi.cs.ucla.edu 10 " + bound)


@pytest.mark.parametrize(
    "radius, bound, expected_radius, expected_bound",
    [
        (b"50", b"20", Decimal(50), 20),
        (b"50.000", b"0", Decimal(50), 0),
        (b"0.5", b"1", Decimal("0.5"), 1),
        (b"0.000000001", b"5", Decimal("1E-9"), 5),
        (b"10", b"5", Decimal(10), 5),
        (b"00.5", b"05", Decimal("0.5"), 5),
        (b"1", b"20", Decimal(1), MAX_BOUND),
    ],
)
def test_whatsat_boundaries_accepted(radius, bound, expected_radius, expected_bound):
    command = parse_command(b"WHATSAT kiwi.cs.ucla.edu " + radius + b" " + bound)
    assert command == WhatsAt(b"kiwi.cs.ucla.edu", expected_radius, expected_bound)
    assert isinstance(command.bound, int)
    assert 0 < command.radius_km <= MAX_RADIUS_KM


def test_spec_example_whatsat():
    assert parse_command(b"WHATSAT kiwi.cs.ucla.edu 10 5") == WhatsAt(
        b"kiwi.cs.ucla.edu", Decimal("10"), 5
    )


def test_line_length_limit():
    fixed = len(iamat(client=b""))
    exactly = iamat(client=b"k" * (MAX_LINE - fixed))
    assert len(exactly) == MAX_LINE
    assert parse_command(exactly).client == b"k" * (MAX_LINE - fixed)
    refused(iamat(client=b"k" * (MAX_LINE - fixed + 1)))
    refused(EXAMPLE_IAMAT + b" " * (MAX_LINE + 1 - len(EXAMPLE_IAMAT)))
    refused(b"x" * (MAX_LINE + 1))
    refused(b"IAMAT " + b"\xff" * 10_000 + b" +34.068930-118.445127 1520023934.918963997")


# --------------------------------------------------------------------------------------
# "? <line>"
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"HELLO",
        b"",
        b"   IAMAT \t kiwi +34.068930-118.445127  1e9 \v",
        b"WHATSAT kiwi 51 5",
        b"iamat \xff\xfe +34-118 1",
        "WHATSAT ünï 0 0".encode(),
        b"x\r",
        b"\x00\x01\x02",
        b"x" * (MAX_LINE + 10),
    ],
)
def test_invalid_reply_echoes_the_line_exactly(line):
    reply = invalid_reply(line)
    assert reply == b"? " + line + b"\n"
    assert reply.startswith(b"? ")
    assert reply[2:-1] == line
    assert reply.endswith(b"\n") and not reply.endswith(b"\n\n")


# --------------------------------------------------------------------------------------
# AT lines between servers, and PEER
# --------------------------------------------------------------------------------------


def test_peer_at_line_parses_to_the_same_at():
    at = parse_command(EXAMPLE_AT)
    assert at == example_at()
    assert at == At(b"Goloman", b"+0.263873386", b"kiwi.cs.ucla.edu", EXAMPLE_LOCATION,
                    b"1520023934.918963997")
    assert at.to_line() == EXAMPLE_AT
    assert at.timestamp == Decimal("1520023934.918963997")


@pytest.mark.parametrize(
    "line",
    [
        EXAMPLE_AT,
        b"AT Hands -0.817162617 kiwi.cs.ucla.edu +34.068930-118.445127 1520023936.000000000",
        b"AT Welsh +1000000000.000000000 \xff\xfe -90-180 0",
        "AT Wilkes +0 ünïcødé📱 +90.0+180.0 1".encode(),
        b"AT a-b_c.d -0.000000000 k +0+0 +1520023934",
        b"AT " + b"S" * 64 + b" +1 k +0+0 1",
    ],
)
def test_at_round_trip(line):
    at = parse_command(line)
    assert isinstance(at, At)
    assert at.to_line() == line
    assert parse_command(at.to_line()) == at
    assert len(fields_of(at.to_line())) == 6


@pytest.mark.parametrize(
    "line",
    [
        b"AT Goloman 0.263873386 kiwi +34.068930-118.445127 1520023934.918963997",  # unsigned
        b"AT Goloman +2.6e-1 kiwi +34.068930-118.445127 1520023934.918963997",
        b"AT Goloman +abc kiwi +34.068930-118.445127 1520023934.918963997",
        b"AT Goloman + kiwi +34.068930-118.445127 1520023934.918963997",
        b"AT Goloman +0.5 kiwi 34.068930-118.445127 1520023934.918963997",
        b"AT Goloman +0.5 kiwi +91-118 1520023934.918963997",
        b"AT Goloman +0.5 kiwi +34.068930-118.445127 1e9",
        b"AT Golo/man +0.5 kiwi +34.068930-118.445127 1520023934.918963997",
        b"AT Golo:man +0.5 kiwi +34.068930-118.445127 1520023934.918963997",
        "AT Gölöman +0.5 kiwi +34.068930-118.445127 1520023934.918963997".encode(),
        b"AT \xff +0.5 kiwi +34.068930-118.445127 1520023934.918963997",
        b"AT " + b"S" * 65 + b" +0.5 kiwi +34.068930-118.445127 1520023934.918963997",
    ],
)
def test_bad_at_lines_refused(line):
    refused(line)


@pytest.mark.parametrize("name", [b"Goloman", b"Hands", b"Holiday", b"Welsh", b"Wilkes",
                                  b"server-1.example_2", b"S" * 64])
def test_peer_hello(name):
    assert parse_command(b"PEER " + name) == PeerHello(name)
    assert parse_command(b"PEER\t" + name + b"\r\n") == PeerHello(name)


@pytest.mark.parametrize(
    "name",
    [b"Golo/man", b"Golo:man", b"S" * 65, "Gölöman".encode(), b"\xff\xfe", b"a\x00b",
     b"Goloman\xc2\xa0", b"<Goloman>"],
)
def test_peer_hello_bad_server_names_refused(name):
    refused(b"PEER " + name)


def test_now_decimal_is_nanoseconds():
    assert now_decimal(1520023935.182837) == Decimal("1520023935.182837000")
    assert now_decimal(1.5e-7) == Decimal("0.000000150")
    assert now_decimal(0.0) == Decimal(0)
    assert now_decimal(1520023935.25).as_tuple().exponent == -9


# --------------------------------------------------------------------------------------
# WHATSAT replies
# --------------------------------------------------------------------------------------


def place(n: int, name: str | None = None) -> dict:
    return {
        "geometry": {"location": {"lat": 34.068921 + n / 1e4, "lng": -118.445181}},
        "icon": "http://maps.gstatic.com/mapfiles/place_api/icons/university-71.png",
        "id": f"{n:040x}",
        "name": name if name is not None else f"Place {n}",
        "photos": [{"height": 1200, "html_attributions": ["From a Google User"],
                    "photo_reference": "CnR...4dY", "width": 1600}],
        "rating": 4.5,
        "reference": "CpQ...r5Y",
        "types": ["university", "establishment"],
        "vicinity": "Los Angeles",
    }


def nearby(count: int, **extra) -> dict:
    return {
        "html_attributions": [],
        "next_page_token": "CvQ...L2E",
        "results": [place(n) for n in range(count)],
        "status": "OK",
        **extra,
    }


def split_reply(reply: bytes) -> tuple[bytes, dict]:
    assert reply.endswith(b"}\n\n")
    assert not reply.endswith(b"\n\n\n")
    assert b"\n\n" not in reply[:-2]
    at_line, body = reply[:-2].split(b"\n", 1)
    return at_line, json.loads(body.decode("utf-8"))


@pytest.mark.parametrize(
    "available, bound, kept",
    [(20, 5, 5), (20, 0, 0), (20, 20, 20), (3, 20, 3), (0, 5, 0), (25, 20, 20), (1, 1, 1)],
)
def test_whatsat_reply_cuts_results_to_bound(available, bound, kept):
    at = example_at()
    response = nearby(available)
    reply = whatsat_reply(at, response, bound)
    at_line, body = split_reply(reply)
    assert at_line == EXAMPLE_AT
    assert body["results"] == response["results"][:kept]
    assert len(body["results"]) == kept
    assert {k: v for k, v in body.items() if k != "results"} == {
        k: v for k, v in response.items() if k != "results"
    }
    assert len(response["results"]) == available  # the caller's response is not changed


def test_whatsat_reply_looks_like_google():
    reply = whatsat_reply(example_at(), nearby(1), 5)
    text = reply.decode("utf-8")
    assert text.startswith(EXAMPLE_AT.decode() + "\n{\n")
    assert '\n   "html_attributions" : [],\n' in text
    assert '\n   "status" : "OK"\n}\n\n' in text
    assert '\n               "lat" : 34.068921,\n' in text
    assert text.index('"html_attributions"') < text.index('"results"') < text.index('"status"')


def test_whatsat_reply_empty_results_with_bound_zero():
    reply = whatsat_reply(example_at(), nearby(10), 0)
    at_line, body = split_reply(reply)
    assert body["results"] == []
    assert b'"results" : []' in reply


def test_whatsat_reply_without_results_key():
    reply = whatsat_reply(example_at(), {"status": "ZERO_RESULTS", "html_attributions": []}, 5)
    _, body = split_reply(reply)
    assert body == {"status": "ZERO_RESULTS", "html_attributions": [], "results": []}


def test_whatsat_reply_non_ascii_place_names_are_utf8():
    names = ["Café ☕", "東京タワー", "Zürich Hauptbahnhof", "🍣 Sushi", "Ελληνικά"]
    response = nearby(0)
    response["results"] = [place(n, name) for n, name in enumerate(names)]
    reply = whatsat_reply(example_at(), response, 20)
    for name in names:
        assert name.encode("utf-8") in reply
    assert b"\\u" not in reply
    _, body = split_reply(reply)
    assert [r["name"] for r in body["results"]] == names


def test_whatsat_reply_strings_with_newlines_stay_valid():
    response = nearby(2)
    response["results"][0]["name"] = "two\n\nblank\n\n\nlines\n"
    response["results"][1]["vicinity"] = "\r\n\r\n"
    response["next_page_token"] = "\n\n"
    reply = whatsat_reply(example_at(), response, 5)
    _, body = split_reply(reply)
    assert body["results"][0]["name"] == "two\n\nblank\n\n\nlines\n"
    assert body["results"][1]["vicinity"] == "\r\n\r\n"
    assert body["next_page_token"] == "\n\n"


def test_whatsat_reply_for_a_unicode_client():
    command = parse_command(iamat(client="ünïcødé📱".encode() + b"\xff"))
    at = at_for(b"Hands", EXAMPLE_RECEIVED, command)
    at_line, body = split_reply(whatsat_reply(at, nearby(3), 2))
    assert at_line == at.to_line()
    assert len(body["results"]) == 2


# --------------------------------------------------------------------------------------
# Found by testing, now fixed
# --------------------------------------------------------------------------------------


def test_iamat_with_a_huge_time_is_answered_exactly():
    """20 integer digits are accepted and answered exactly (beyond Decimal's default 28)."""
    at = at_for(b"Goloman", EXAMPLE_RECEIVED, parse_command(iamat(sent=b"1" * 20)))
    assert PLAIN_SIGNED.match(at.difference)
    with localcontext() as context:
        context.prec = 64
        assert Decimal(at.difference.decode()) == EXAMPLE_RECEIVED - Decimal("1" * 20)


@pytest.mark.parametrize("sent", [b"1" * 21, b"1." + b"1" * 31])
def test_iamat_with_an_absurd_time_is_refused(sent):
    refused(iamat(sent=sent))


@pytest.mark.parametrize("location", [b"+90.00000000000000001+0", b"+0-180.0000000000000001"])
def test_coordinates_just_out_of_range_refused(location):
    refused(iamat(location=location))


def test_whatsat_reply_lone_surrogate_in_response():
    response = json.loads('{"results": [{"name": "cut emoji \\ud83d"}], "status": "OK"}')
    reply = whatsat_reply(example_at(), response, 5)
    _, body = split_reply(reply)
    assert body == response
