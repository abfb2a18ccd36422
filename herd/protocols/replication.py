"""The replication system's wire format: ``<field, field, ..., kind>`` messages.

Pure parse and format, no I/O. A message is the text between ``<`` and ``>``: fields
separated by ``,`` (spaces around them ignored), the last field naming the kind. On a
connection, messages follow each other (a newline after ``>`` is customary and ignored).
``Framer.feed`` splits a byte stream into messages and refuses a message longer than
``MAX_MESSAGE`` bytes before buffering more of it (100 KB without a ``>`` is refused).

The messages (names are ``[A-Za-z][A-Za-z0-9_]{0,31}``)::

    <C1, S1, 101, hello_world1, request>        client request (status string is text)
    <C1, S1, 101, 8, reply>                     reply: the counter after the request
    <LFD1, S1, 7, heartbeat>                    heartbeat (either way, the count echoed)
    <LFD1, S1, add, membership>                 membership change (LFD->GFD, GFD->RM)
    <S1, ready>                                 a replica became ready (replica->LFD->GFD->RM)
    <S1, passive, primary, ready>               role from the RM; ``recover`` instead of
                                                ``ready``: wait for a checkpoint first
    <S1, passive, primary, 3, ready>            the same with the primary's epoch (the RM
                                                counts its promotions)
    <S1, S2, send_checkpoint>                   S1: send a checkpoint to S2
    <S1, launch>                                relaunch replica S1 (RM->GFD->LFD)
    <S1, S2, 3, 8, C1:101:8;C2:7:6, checkpoint> checkpoint count, state, per-client
                                                last request and its reply ("-": none)
    <S1, S2, 3, 8, C1:101:8, recovery>          the same, sent on send_checkpoint: it makes
                                                a recovering replica ready
    <S1, S2, 3, 8, C1:101:8, 2, checkpoint>     the same with the sender's epoch
    <S1, S2, C1, 101, 8, log>                   primary -> backup: C1's request 101 was
                                                applied, the counter became 8
    <S2, S1, 8, ack>                            backup -> primary: log entry 8 is held
    <S1, S2, hello>                             who opened this connection
    <C1, client>                                client asks the RM for its servers
    <C1, passive, S2, ready>                    RM's answer (``S1;S2;S3`` in active mode,
                                                ``none`` when no replica lives)
"""

from __future__ import annotations

import re
from typing import Union

from attrs import frozen

MAX_MESSAGE = 8192
"""Longest message accepted, in bytes, between ``<`` and ``>`` included."""

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}\Z")
_TEXT = re.compile(r"[A-Za-z0-9_.:-]{0,256}\Z")
_COUNT = re.compile(r"\d{1,18}\Z")
MODES = ("active", "passive")
ROLES = ("primary", "backup")


class BadMessage(ValueError):
    """Bytes that are not a valid message; ``str()`` says why."""


@frozen
class Request:
    """A client's request; ``text`` is the seed's status string."""

    client: str
    server: str
    num: int
    text: str

    def brief(self) -> str:
        """The message without its status string, as the replicas and clients print it."""
        return f"<{self.client}, {self.server}, {self.num}, request>"


@frozen
class Reply:
    """A replica's reply: ``value`` is the counter after the request."""

    client: str
    server: str
    num: int
    value: int

    def brief(self) -> str:
        return f"<{self.client}, {self.server}, {self.num}, reply>"


@frozen
class Heartbeat:
    """A heartbeat, or its echo (sender and receiver swapped, same count)."""

    sender: str
    receiver: str
    count: int


@frozen
class Membership:
    """A replica added to or deleted from the membership (``add``/``delete``)."""

    sender: str
    server: str
    action: str  # "add" or "delete"


@frozen
class Ready:
    """A replica became ready."""

    server: str


@frozen
class Role:
    """The RM's role for a replica; ``ready`` False: recover from a checkpoint first."""

    server: str
    mode: str
    role: str
    ready: bool  # False: recover from a checkpoint first
    epoch: int = 0  # a primary's epoch: the RM counts its promotions (0: not given)


@frozen
class SendCheckpoint:
    """The RM (or a new active primary) asks ``source`` to checkpoint ``target``."""

    source: str
    target: str


@frozen
class Launch:
    """Relaunch this replica."""

    server: str


@frozen
class Checkpoint:
    """A replica's state: count, counter, and each client's last request and reply."""

    sender: str
    receiver: str
    count: int
    state: int
    clients: tuple[tuple[str, int, int], ...]  # (client, last request, its reply), sorted
    recovery: bool = False  # sent on the RM's send_checkpoint: makes a recovering replica ready
    epoch: int = 0  # the sender's epoch: a backup never goes back to an older primary


@frozen
class LogEntry:
    """The primary applied ``client``'s request ``num``; the counter became ``value``."""

    sender: str
    receiver: str
    client: str
    num: int
    value: int


@frozen
class Ack:
    """A backup holds the log entry that made the counter ``value``."""

    sender: str
    receiver: str
    value: int


@frozen
class Hello:
    """Who opened this connection, and to whom."""

    sender: str
    receiver: str


@frozen
class ClientHello:
    """A client asks the RM for its servers."""

    client: str


@frozen
class Assignment:
    """The RM's answer to a client: the mode and the servers to send to."""

    client: str
    mode: str
    servers: tuple[str, ...]


Message = Union[Request, Reply, Heartbeat, Membership, Ready, Role, SendCheckpoint, Launch,
                Checkpoint, LogEntry, Ack, Hello, ClientHello, Assignment]


def _name(text: str) -> str:
    if not _NAME.match(text):
        raise BadMessage(f"not a name: {text[:40]!r}")
    return text


def _count(text: str) -> int:
    if not _COUNT.match(text):
        raise BadMessage(f"not a count: {text[:40]!r}")
    return int(text)


def _clients(text: str) -> tuple[tuple[str, int, int], ...]:
    if text == "-":
        return ()
    table = {}
    for item in text.split(";"):
        parts = item.split(":")
        if len(parts) != 3:
            raise BadMessage(f"not client:request:reply: {item[:40]!r}")
        table[_name(parts[0])] = (_count(parts[1]), _count(parts[2]))
    return tuple(sorted((c, n, v) for c, (n, v) in table.items()))


def _servers(text: str) -> tuple[str, ...]:
    if text == "none":
        return ()
    return tuple(_name(s.strip()) for s in text.split(";"))


def _choice(text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise BadMessage(f"{text[:40]!r} is not one of {', '.join(allowed)}")
    return text


def parse(data: bytes) -> Message:
    """Parse one message, ``<`` and ``>`` included (white space around it ignored)."""
    if len(data) > MAX_MESSAGE:
        raise BadMessage(f"message longer than {MAX_MESSAGE} bytes")
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise BadMessage("not ASCII") from None
    if not (text.startswith("<") and text.endswith(">")):
        raise BadMessage("not enclosed in < >")
    f = [part.strip() for part in text[1:-1].split(",")]
    kind, n = f[-1], len(f)
    try:
        if kind == "request" and n == 5:
            if not _TEXT.match(f[3]):
                raise BadMessage(f"bad status string {f[3][:40]!r}")
            return Request(_name(f[0]), _name(f[1]), _count(f[2]), f[3])
        if kind == "reply" and n == 5:
            return Reply(_name(f[0]), _name(f[1]), _count(f[2]), _count(f[3]))
        if kind == "heartbeat" and n == 4:
            return Heartbeat(_name(f[0]), _name(f[1]), _count(f[2]))
        if kind == "membership" and n == 4:
            return Membership(_name(f[0]), _name(f[1]), _choice(f[2], ("add", "delete")))
        if kind == "ready" and n == 2:
            return Ready(_name(f[0]))
        if kind in ("ready", "recover") and n in (4, 5) and f[2] in ROLES:
            epoch = _count(f[3]) if n == 5 else 0
            return Role(_name(f[0]), _choice(f[1], MODES), f[2], kind == "ready", epoch)
        if kind == "ready" and n == 4:
            return Assignment(_name(f[0]), _choice(f[1], MODES), _servers(f[2]))
        if kind == "send_checkpoint" and n == 3:
            return SendCheckpoint(_name(f[0]), _name(f[1]))
        if kind == "launch" and n == 2:
            return Launch(_name(f[0]))
        if kind in ("checkpoint", "recovery") and n in (6, 7):
            epoch = _count(f[5]) if n == 7 else 0
            return Checkpoint(_name(f[0]), _name(f[1]), _count(f[2]), _count(f[3]), _clients(f[4]),
                              kind == "recovery", epoch)
        if kind == "log" and n == 6:
            return LogEntry(_name(f[0]), _name(f[1]), _name(f[2]), _count(f[3]), _count(f[4]))
        if kind == "ack" and n == 4:
            return Ack(_name(f[0]), _name(f[1]), _count(f[2]))
        if kind == "hello" and n == 3:
            return Hello(_name(f[0]), _name(f[1]))
        if kind == "client" and n == 2:
            return ClientHello(_name(f[0]))
    except BadMessage as error:
        raise BadMessage(f"bad {kind[:20]!r} message: {error}") from None
    raise BadMessage(f"unknown message kind {kind[:40]!r} with {n} fields")


def format_message(m: Message) -> bytes:
    """The wire form of ``m``, newline included."""
    return (text(m) + "\n").encode("ascii")


def text(m: Message) -> str:
    """The full text of ``m`` (``<...>``), as printed when a message is logged whole."""
    if isinstance(m, Request):
        fields = [m.client, m.server, m.num, m.text, "request"]
    elif isinstance(m, Reply):
        fields = [m.client, m.server, m.num, m.value, "reply"]
    elif isinstance(m, Heartbeat):
        fields = [m.sender, m.receiver, m.count, "heartbeat"]
    elif isinstance(m, Membership):
        fields = [m.sender, m.server, m.action, "membership"]
    elif isinstance(m, Ready):
        fields = [m.server, "ready"]
    elif isinstance(m, Role):
        epoch = [m.epoch] if m.epoch else []
        fields = [m.server, m.mode, m.role, *epoch, "ready" if m.ready else "recover"]
    elif isinstance(m, SendCheckpoint):
        fields = [m.source, m.target, "send_checkpoint"]
    elif isinstance(m, Launch):
        fields = [m.server, "launch"]
    elif isinstance(m, Checkpoint):
        table = ";".join(f"{c}:{n}:{v}" for c, n, v in m.clients) or "-"
        epoch = [m.epoch] if m.epoch else []
        fields = [m.sender, m.receiver, m.count, m.state, table, *epoch,
                  "recovery" if m.recovery else "checkpoint"]
    elif isinstance(m, LogEntry):
        fields = [m.sender, m.receiver, m.client, m.num, m.value, "log"]
    elif isinstance(m, Ack):
        fields = [m.sender, m.receiver, m.value, "ack"]
    elif isinstance(m, Hello):
        fields = [m.sender, m.receiver, "hello"]
    elif isinstance(m, ClientHello):
        fields = [m.client, "client"]
    elif isinstance(m, Assignment):
        fields = [m.client, m.mode, ";".join(m.servers) or "none", "ready"]
    else:
        raise TypeError(f"not a message: {m!r}")
    return "<" + ", ".join(str(f) for f in fields) + ">"


def sender(m: Message) -> str:
    """Who a message claims to come from."""
    if isinstance(m, (Request, ClientHello, Assignment)):
        return m.client
    if isinstance(m, Reply):
        return m.server
    if isinstance(m, (Ready, Role, Launch)):
        return m.server
    if isinstance(m, SendCheckpoint):
        return m.source
    return m.sender  # type: ignore[union-attr]


class Framer:
    """Split a byte stream into messages; ``feed`` returns parsed messages and errors.

    Bytes before a ``<`` that are not white space are an error. A message that grows past
    ``MAX_MESSAGE`` without its ``>`` raises ``BadMessage`` at once: the connection should
    be dropped, since the rest of the stream cannot be trusted.
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self._buffer = b""
        self._limit = limit

    def feed(self, data: bytes) -> list[Union[Message, BadMessage]]:
        self._buffer += data
        out: list[Union[Message, BadMessage]] = []
        while True:
            end = self._buffer.find(b">")
            if end < 0:
                if len(self._buffer) > self._limit:
                    self._buffer = b""
                    raise BadMessage(f"more than {self._limit} bytes without '>'")
                return out
            chunk, self._buffer = self._buffer[: end + 1], self._buffer[end + 1:]
            try:
                out.append(parse(chunk))
            except BadMessage as error:
                out.append(error)
