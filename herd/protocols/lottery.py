"""The lottery's wire format: agencies' frames, the server's frames, bets and batches.

Pure parse and format, no I/O (``docs/lottery-protocol.md`` is the reference)::

    client frame: KIND (1 byte) AGENCYID (uint32 LE) PAYLOAD_SIZE (uint32 LE) payload
    server frame: KIND (1 byte) PAYLOAD_SIZE (uint32 LE) payload

A bet is ``NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO`` in UTF-8; a batch is a run of
bets, each preceded by its size (uint32 LE). No frame is larger than 8,192 bytes, header
included: ``FrameParser`` refuses a larger PAYLOAD_SIZE as soon as the header is in, before
buffering a byte of its payload.
"""

from __future__ import annotations

import re
import struct
from datetime import date
from enum import IntEnum
from functools import lru_cache
from typing import Iterable, Iterator, Optional, Sequence

from attrs import frozen

CLIENT_HEADER = struct.Struct("<BII")
SERVER_HEADER = struct.Struct("<BI")
SIZE = struct.Struct("<I")
MAX_FRAME = 8192
"""Largest frame, header included, in either direction."""
MAX_PAYLOAD = MAX_FRAME - CLIENT_HEADER.size
MAX_SERVER_PAYLOAD = 16 * 1024 * 1024
"""Largest server payload an agency accepts: results are not bound by the 8 kB of bets."""
MAX_UINT32 = 2**32 - 1


class ClientKind(IntEnum):
    """What an agency's frame carries."""

    POST_BET = 0
    BET_BATCH = 1
    BET_BATCH_END = 2
    GET_WINNERS = 3


class ServerKind(IntEnum):
    """What a server's frame carries."""

    ACKNOWLEDGE = 0
    WINNERS_READY = 1
    BETTING_RESULTS = 2


class ProtocolError(ValueError):
    """Bytes that break the protocol; ``count`` is how many bets the frame held (0: unknown)."""

    def __init__(self, message: str, count: int = 0) -> None:
        super().__init__(message)
        self.count = count


class FrameError(ProtocolError):
    """A frame header that cannot be accepted (too large, unknown kind, truncated)."""


class InvalidBet(ProtocolError):
    """A bet (or a batch holding one) that cannot be stored."""


@frozen
class Bet:
    """One bet as the agency sent it; the document keeps its leading zeros."""

    first_name: str
    last_name: str
    document: str
    birthdate: str
    number: int

    def encode(self) -> bytes:
        """The bet's payload form, ``NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO``."""
        return ",".join(
            (self.first_name, self.last_name, self.document, self.birthdate, str(self.number))
        ).encode("utf-8")


@frozen
class ClientFrame:
    """A frame from an agency."""

    kind: ClientKind
    agency: int
    payload: bytes = b""

    def encode(self) -> bytes:
        """The frame's bytes, header included."""
        return CLIENT_HEADER.pack(self.kind, self.agency, len(self.payload)) + self.payload


@frozen
class ServerFrame:
    """A frame from the server."""

    kind: ServerKind
    payload: bytes = b""

    def encode(self) -> bytes:
        """The frame's bytes, header included."""
        return SERVER_HEADER.pack(self.kind, len(self.payload)) + self.payload


_NAME = re.compile(r"[^,\x00-\x1f\x7f]{1,100}\Z")
_DOCUMENT = re.compile(r"[0-9]{1,20}\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_NUMBER = re.compile(r"[0-9]{1,10}\Z")
_BET = re.compile(
    r"[^,\x00-\x1f\x7f]{1,100},[^,\x00-\x1f\x7f]{1,100},[0-9]{1,20},"
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}),([0-9]{1,10})\Z"
)
"""A whole valid bet at once (the fast path of ``bet_text``; ``parse_bet`` says what is wrong)."""


@lru_cache(maxsize=65536)
def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def bet_text(data: bytes) -> str:
    """A bet's payload checked as ``parse_bet`` checks it, as text, its number without
    leading zeros (the form the server stores); ``InvalidBet`` says what is wrong.

    One regular expression per bet: the batch path, where parsing is the server's cost."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    match = _BET.match(text)
    if match is None or not _real_date(match.group(1)):
        parse_bet(data)  # raises, saying why
        raise InvalidBet("not a bet")  # pragma: no cover (parse_bet accepts what _BET does)
    number = match.group(2)
    if number[0] == "0" and len(number) > 1:
        return f"{text[:match.start(2)]}{int(number)}"
    if len(number) == 10 and int(number) > MAX_UINT32:
        parse_bet(data)
    return text


def parse_bet(data: bytes) -> Bet:
    """A bet from its UTF-8 payload form; ``InvalidBet`` says what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidBet(f"bytes that are not UTF-8 at offset {error.start}") from None
    fields = text.split(",")
    if len(fields) != 5:
        raise InvalidBet(f"{len(fields)} fields instead of 5")
    first, last, document, birthdate, number = fields
    for label, value in (("first name", first), ("last name", last)):
        if not _NAME.match(value):
            raise InvalidBet(f"{label} must be 1-100 characters without control characters")
    if not _DOCUMENT.match(document):
        raise InvalidBet(f"document is not a decimal number of 1-20 digits: {document[:40]!r}")
    if not _DATE.match(birthdate):
        raise InvalidBet(f"birth date is not YYYY-MM-DD: {birthdate[:40]!r}")
    try:
        date.fromisoformat(birthdate)
    except ValueError:
        raise InvalidBet(f"birth date is not a valid date: {birthdate!r}") from None
    if not _NUMBER.match(number) or int(number) > MAX_UINT32:
        raise InvalidBet(f"number is not a decimal number from 0 to {MAX_UINT32}: {number[:40]!r}")
    return Bet(first, last, document, birthdate, int(number))


def split_batch(payload: bytes) -> list[bytes]:
    """The bets' payloads of a batch, sizes removed; an empty batch or a bad size is refused."""
    items: list[bytes] = []
    offset, end = 0, len(payload)
    while offset < end:
        if end - offset < SIZE.size:
            raise InvalidBet(f"batch ends inside the size of bet {len(items) + 1}")
        (size,) = SIZE.unpack_from(payload, offset)
        offset += SIZE.size
        if size > end - offset:
            raise InvalidBet(f"bet {len(items) + 1} claims {size} bytes, {end - offset} remain")
        items.append(payload[offset:offset + size])
        offset += size
    if not items:
        raise InvalidBet("a batch holds at least one bet")
    return items


_BETS = re.compile(
    r"(?:[^,\x00-\x1f\x7f]{1,100},[^,\x00-\x1f\x7f]{1,100},[0-9]{1,20},"
    r"[0-9]{4}-[0-9]{2}-[0-9]{2},[1-9][0-9]{0,8}\n)*"
)
"""Bets joined by newlines (names hold no control character, so no bet holds one), each
number without leading zeros and of 9 digits at most: the common case, checked at once."""
_DATES = re.compile(r",([0-9]{4}-[0-9]{2}-[0-9]{2}),[0-9]+\n")
_KNOWN_DATES: set[str] = set()
"""Birth dates already found real (a set difference skips them in C)."""


def batch_texts(payload: bytes) -> list[str]:
    """Every bet of a batch as ``bet_text`` gives it, or ``InvalidBet`` naming the first
    bad one (``count``: the bets the batch held).

    The whole batch is checked by one regular expression (and its distinct birth dates
    one by one); only a batch that fails it, or holds an unusual number, is checked bet by
    bet, which finds the bet to blame."""
    items = split_batch(payload)
    try:
        texts = [item.decode("utf-8") for item in items]
    except UnicodeDecodeError:
        texts = []
    if texts:
        joined = "\n".join(texts) + "\n"
        if _BETS.fullmatch(joined):
            unknown = set(_DATES.findall(joined)) - _KNOWN_DATES
            if all(_real_date(d) for d in unknown):
                if len(_KNOWN_DATES) < 100_000:
                    _KNOWN_DATES.update(unknown)
                return texts
    texts = []
    for index, item in enumerate(items, 1):
        try:
            texts.append(bet_text(item))
        except InvalidBet as error:
            raise InvalidBet(f"bet {index} of {len(items)}: {error}", len(items)) from None
    return texts


def parse_batch(payload: bytes) -> list[Bet]:
    """Every bet of a batch, or ``InvalidBet`` naming the first bad one (``count``: bets held)."""
    items = split_batch(payload)
    bets = []
    for index, item in enumerate(items, 1):
        try:
            bets.append(parse_bet(item))
        except InvalidBet as error:
            raise InvalidBet(f"bet {index} of {len(items)}: {error}", len(items)) from None
    return bets


def encode_batch(bets: Iterable[bytes]) -> bytes:
    """A batch payload from bets' payload forms."""
    return b"".join(SIZE.pack(len(bet)) + bet for bet in bets)


def batches(bets: Sequence[bytes], max_amount: int) -> Iterator[tuple[int, bytes]]:
    """Split bets (payload forms) into ``(count, batch payload)``: ``max_amount`` bets each,
    fewer only where that many would make a frame over ``MAX_FRAME`` bytes (then as many
    as fit)."""
    if max_amount < 1:
        raise ValueError("max_amount must be at least 1")
    batch: list[bytes] = []
    size = 0
    for bet in bets:
        item = SIZE.size + len(bet)
        if item > MAX_PAYLOAD:
            raise ValueError(f"a bet of {len(bet)} bytes cannot fit in a frame")
        if batch and (len(batch) == max_amount or size + item > MAX_PAYLOAD):
            yield len(batch), encode_batch(batch)
            batch, size = [], 0
        batch.append(bet)
        size += item
    if batch:
        yield len(batch), encode_batch(batch)


class FrameParser:
    """Incremental parser of an agency's byte stream into ``ClientFrame``s.

    ``feed`` yields the frames completed by ``data``; it raises ``FrameError`` for an
    unknown kind or a PAYLOAD_SIZE over ``MAX_PAYLOAD`` as soon as the header is in (the
    payload is never buffered), and the parser is then unusable. ``pending`` is how many bytes of an incomplete frame wait.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._header: Optional[tuple[ClientKind, int, int]] = None
        self._max = max_payload

    @property
    def pending(self) -> int:
        return len(self._buffer) + (CLIENT_HEADER.size if self._header else 0)

    def feed(self, data: bytes) -> Iterator[ClientFrame]:
        """Buffer ``data`` now; iterate over the frames it completes (``FrameError`` comes
        out of the iteration after the frames before the bad header)."""
        self._buffer += data
        return self._frames()

    def _frames(self) -> Iterator[ClientFrame]:
        while True:
            if self._header is None:
                if len(self._buffer) < CLIENT_HEADER.size:
                    return
                kind, agency, size = CLIENT_HEADER.unpack_from(self._buffer)
                if kind not in _CLIENT_KINDS:
                    raise FrameError(f"unknown frame kind {kind}")
                if size > self._max:
                    raise FrameError(
                        f"payload size {size} over the limit of {self._max} bytes "
                        f"({MAX_FRAME}-byte frames)"
                    )
                del self._buffer[:CLIENT_HEADER.size]
                self._header = (ClientKind(kind), agency, size)
            kind, agency, size = self._header
            if len(self._buffer) < size:
                return
            payload = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._header = None
            yield ClientFrame(kind, agency, payload)

    def truncation(self) -> Optional[str]:
        """What is missing when the stream ends now (None: nothing is)."""
        if self._header is not None:
            kind, _, size = self._header
            return f"truncated {kind.name} frame: {len(self._buffer)} of {size} payload bytes"
        if self._buffer:
            return f"truncated frame header: {len(self._buffer)} of {CLIENT_HEADER.size} bytes"
        return None


_CLIENT_KINDS = frozenset(int(kind) for kind in ClientKind)
_SERVER_KINDS = frozenset(int(kind) for kind in ServerKind)


def check_empty(frame: ClientFrame) -> None:
    """Refuse a BET_BATCH_END or GET_WINNERS that carries a payload."""
    if frame.payload:
        raise ProtocolError(f"{frame.kind.name} carries no payload, got {len(frame.payload)} bytes")


class ServerFrameParser:
    """Incremental parser of the server's byte stream, for agencies."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[ServerFrame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= SERVER_HEADER.size:
            kind, size = SERVER_HEADER.unpack_from(self._buffer)
            if kind not in _SERVER_KINDS:
                raise FrameError(f"unknown server frame kind {kind}")
            if size > MAX_SERVER_PAYLOAD:
                raise FrameError(f"server payload size {size} over {MAX_SERVER_PAYLOAD}")
            if len(self._buffer) < SERVER_HEADER.size + size:
                break
            payload = bytes(self._buffer[SERVER_HEADER.size:SERVER_HEADER.size + size])
            del self._buffer[:SERVER_HEADER.size + size]
            frames.append(ServerFrame(ServerKind(kind), payload))
        return frames


def acknowledge(value: int) -> ServerFrame:
    """ACKNOWLEDGE carrying a uint32: a bet's number, a batch's count or an agency's total."""
    return ServerFrame(ServerKind.ACKNOWLEDGE, SIZE.pack(value))


_ACK_HEADER = SERVER_HEADER.pack(ServerKind.ACKNOWLEDGE, SIZE.size)


def acknowledgement(value: int) -> bytes:
    """``acknowledge(value).encode()``, without the object (one per frame)."""
    return _ACK_HEADER + SIZE.pack(value)


NOT_YET = ServerFrame(ServerKind.WINNERS_READY, b"\x00")
"""The answer to GET_WINNERS before the draw."""


def betting_results(documents: Iterable[str]) -> ServerFrame:
    """The winners' documents, ``DNI_1,DNI_2,...`` (empty payload: no winner)."""
    return ServerFrame(ServerKind.BETTING_RESULTS, ",".join(documents).encode("ascii"))


def parse_uint32(frame: ServerFrame) -> int:
    """The uint32 an ACKNOWLEDGE carries."""
    if len(frame.payload) != SIZE.size:
        raise FrameError(f"ACKNOWLEDGE carries {len(frame.payload)} bytes instead of 4")
    return SIZE.unpack(frame.payload)[0]


def parse_documents(payload: bytes) -> list[str]:
    """The documents of a BETTING_RESULTS payload (empty payload: none)."""
    return payload.decode("ascii").split(",") if payload else []
