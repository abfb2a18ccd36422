"""The places herd's wire format: IAMAT, WHATSAT, AT and the servers' PEER greeting.

Lines are bytes and stay bytes: a client id is any run of non-white-space bytes (UTF-8,
other Unicode, or bytes that are not valid UTF-8 at all), and an invalid command is echoed
back exactly as received. White space is what the specification says it is: space, tab,
carriage return, newline, form feed and vertical tab, and nothing else.

Client commands::

    IAMAT <client> <ISO 6709 lat/lon> <POSIX time>
    WHATSAT <client> <radius km> <bound>

Replies::

    AT <server> <time difference> <client> <lat/lon> <POSIX time>
    ? <the invalid command as received>

Between servers, a connection opens with ``PEER <server>`` and then carries AT lines.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, localcontext
from typing import Any, Mapping, Union

from attrs import frozen

WHITESPACE = b" \t\r\n\f\v"
_FIELDS = re.compile(rb"[ \t\r\n\f\v]+")
_COORDINATES = re.compile(rb"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)\Z")
_DECIMAL = re.compile(rb"[+-]?\d{1,20}(?:\.\d{1,30})?\Z")
_UNSIGNED = re.compile(rb"\d+(?:\.\d+)?\Z")
_SERVER = re.compile(rb"[A-Za-z0-9_.-]{1,64}\Z")

MAX_RADIUS_KM = 50
MAX_BOUND = 20
MAX_LINE = 4096
"""Longest command line accepted; a longer one is answered ``?`` and the connection closed."""


class InvalidCommand(ValueError):
    """A line that is not a valid command; it is answered ``? <line>``."""


@frozen
class Location:
    """An ISO 6709 latitude/longitude pair, with the text it was sent as."""

    text: bytes
    latitude: float
    longitude: float


class _Sent:
    """A message carrying the client's own time stamp, ``sent`` (ASCII digits, as received)."""

    sent: bytes

    @property
    def timestamp(self) -> Decimal:
        """``sent`` as a number, to compare locations by their clients' times."""
        return Decimal(self.sent.decode("ascii"))


@frozen
class IAmAt(_Sent):
    """A client tells where it is, and when (its own clock)."""

    client: bytes
    location: Location
    sent: bytes


@frozen
class WhatsAt:
    """A client asks for up to ``bound`` places within ``radius_km`` of another client."""

    client: bytes
    radius_km: Decimal
    bound: int


@frozen
class At(_Sent):
    """A location as the herd stores and floods it: the first server's AT line."""

    server: bytes
    difference: bytes
    client: bytes
    location: Location
    sent: bytes

    def to_line(self) -> bytes:
        """The six-field AT line, without its newline."""
        return b" ".join(
            (b"AT", self.server, self.difference, self.client, self.location.text, self.sent)
        )


@frozen
class PeerHello:
    """The first line of a server-to-server connection."""

    server: bytes


Command = Union[IAmAt, WhatsAt, At, PeerHello]


def fields_of(line: bytes) -> list[bytes]:
    """The white-space separated fields of ``line`` (leading/trailing white space ignored)."""
    stripped = line.strip(WHITESPACE)
    return _FIELDS.split(stripped) if stripped else []


def parse_location(text: bytes) -> Location:
    """Parse ``+34.068930-118.445127``: signs required, latitude within ±90, longitude ±180."""
    match = _COORDINATES.match(text)
    if match is None:
        raise InvalidCommand("coordinates must look like +34.068930-118.445127")
    latitude, longitude = (Decimal(group.decode("ascii")) for group in match.groups())
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # exact, not float-rounded
        raise InvalidCommand("coordinates out of range")
    return Location(text, float(latitude), float(longitude))


def _posix_time(text: bytes) -> bytes:
    if not _DECIMAL.match(text):
        raise InvalidCommand("time must be a plain decimal number of seconds (20+30 digits at most)")
    return text


def _radius(text: bytes) -> Decimal:
    if not _UNSIGNED.match(text):
        raise InvalidCommand("radius must be a positive number")
    radius = Decimal(text.decode("ascii"))
    if not 0 < radius <= MAX_RADIUS_KM:
        raise InvalidCommand(f"radius must be above 0 and at most {MAX_RADIUS_KM} km")
    return radius


def _bound(text: bytes) -> int:
    if not text.isdigit() or int(text) > MAX_BOUND:
        raise InvalidCommand(f"bound must be an integer from 0 to {MAX_BOUND}")
    return int(text)


def _server_name(text: bytes) -> bytes:
    if not _SERVER.match(text):
        raise InvalidCommand("bad server name")
    return text


def parse_command(line: bytes) -> Command:
    """Parse one line (without its newline); raise InvalidCommand if it is not valid."""
    if len(line) > MAX_LINE:
        raise InvalidCommand("line too long")
    fields = fields_of(line)
    verb, args = (fields[0], fields[1:]) if fields else (b"", [])
    if verb == b"IAMAT" and len(args) == 3:
        return IAmAt(args[0], parse_location(args[1]), _posix_time(args[2]))
    if verb == b"WHATSAT" and len(args) == 3:
        return WhatsAt(args[0], _radius(args[1]), _bound(args[2]))
    if verb == b"AT" and len(args) == 5:
        server, difference, client, location, sent = args
        if not _DECIMAL.match(difference) or difference[:1] not in b"+-":
            raise InvalidCommand("time difference must be a signed plain decimal")
        return At(_server_name(server), difference, client, parse_location(location), _posix_time(sent))
    if verb == b"PEER" and len(args) == 1:
        return PeerHello(_server_name(args[0]))
    raise InvalidCommand("unknown command or wrong number of fields")


def invalid_reply(line: bytes) -> bytes:
    """``? `` and the command exactly as received, then a newline."""
    return b"? " + line + b"\n"


def format_difference(received: Decimal, sent: Decimal) -> bytes:
    """``received - sent`` as a signed plain decimal with nanosecond precision."""
    with localcontext() as context:
        context.prec = 64  # times have at most 20 integer and 30 decimal digits
        difference = (received - sent).quantize(Decimal("0.000000001"))
        return f"{difference:+f}".encode("ascii")


def at_for(server: bytes, received: Decimal, message: IAmAt) -> At:
    """The AT line ``server`` answers to ``message``, received at ``received`` (its clock)."""
    return At(
        server,
        format_difference(received, message.timestamp),
        message.client,
        message.location,
        message.sent,
    )


def now_decimal(seconds: float) -> Decimal:
    """A clock reading as a Decimal, without float artefacts beyond the nanosecond."""
    return Decimal(repr(seconds)).quantize(Decimal("0.000000001"))



def whatsat_reply(at: At, response: Mapping[str, Any], bound: int) -> bytes:
    """The whole WHATSAT reply: the AT line, the Nearby Search JSON cut to ``bound``
    results (runs of newlines squeezed, trailing newlines removed), then two newlines."""
    body = dict(response)
    body["results"] = list(response.get("results", []))[:bound]
    text = json.dumps(body, indent=3, separators=(",", " : "), ensure_ascii=False)
    text = re.sub(r"\n{2,}", "\n", text).rstrip("\n")
    # A lone surrogate (a cut emoji) can only sit inside a JSON string, where its
    # backslash escape is exactly JSON's own \uXXXX escape.
    return at.to_line() + b"\n" + text.encode("utf-8", "backslashreplace") + b"\n\n"
