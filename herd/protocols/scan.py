"""The scan pool's wire format: requests, replies and their limits.

Everything here is pure: bytes in, typed messages out, and back. The orchestrator's UDP
protocol, the worker's TCP protocol and the command-line clients all speak through this
module, so a message has exactly one parser and one formatter.

Requests (one per UDP datagram to the orchestrator; ``CHECK`` also one line over TCP to a
worker)::

    CHECK <URL> <AdID> <SiteID>
    REGISTER <Hostname> <Port> <Identifier> [capacity=<N>] [token=<token>]
    HEARTBEAT <Identifier> [running=<N>] [token=<token>]
    STATUS [<page>]          (also POOL_STATUS)
    HITS [<N>]               (also GET_HITS, LAST_HITS; N from 1 to 5, default 5)
    JOB <id>
    DEAD [<N>]               (N from 1 to 5, default 5)

Verbs are case-insensitive, fields are separated by runs of white space, and leading and
trailing white space (``\\r\\n``, ``\\r\\n\\r\\n``) is ignored. Options after the
fields the specification fixes are ``key=value`` pairs. A CHECK sent by the orchestrator
to a worker may carry ``token=<token>`` too (see ``herd.core.tokens``).
"""

from __future__ import annotations

import re
import sys
from typing import Optional, Union
from urllib.parse import urlsplit

from attrs import field, frozen

MAX_DATAGRAM = 1400
"""Largest request datagram accepted, in bytes."""

MAX_REPLY = 1024
"""Every reply fits in this many bytes: other clients read only that much."""

MAX_HITS = 5
MAX_WORKER_ID = 32
MAX_SITE_ID = 32
MAX_AD_ID = 64
MAX_HOST = 253
MAX_CAPACITY = 64

_SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_HOST = re.compile(r"[A-Za-z0-9._:-]+\Z")
_VISIBLE = re.compile(r"[!-~]+\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ProtocolError(ValueError):
    """A message that cannot be accepted; ``str()`` is the reason given to the sender."""


def _with_token(signed: bytes, token: Optional[str]) -> bytes:
    return signed if token is None else signed + b" token=" + token.encode("ascii")


@frozen
class CheckRequest:
    """Scan ``url`` for ``ad_id`` and log the images under ``site_id``."""

    url: str
    ad_id: str
    site_id: str
    token: Optional[str] = field(default=None, eq=False)

    def signed(self) -> bytes:
        """The part of the line a token signs."""
        return f"CHECK {self.url} {self.ad_id} {self.site_id}".encode("ascii")

    def to_line(self) -> bytes:
        """The request as one newline-terminated line, as sent to a worker."""
        return _with_token(self.signed(), self.token) + b"\n"


@frozen
class RegisterRequest:
    """A worker offers to take up to ``capacity`` jobs at once on ``host``:``port``."""

    host: str
    port: int
    worker_id: str
    capacity: int = 1
    token: Optional[str] = field(default=None, eq=False)

    def signed(self) -> bytes:
        return f"REGISTER {self.host} {self.port} {self.worker_id} capacity={self.capacity}".encode("ascii")

    def to_line(self) -> bytes:
        return _with_token(self.signed(), self.token)


@frozen
class HeartbeatRequest:
    """A worker is alive and running ``running`` jobs."""

    worker_id: str
    running: int = 0
    token: Optional[str] = field(default=None, eq=False)

    def signed(self) -> bytes:
        return f"HEARTBEAT {self.worker_id} running={self.running}".encode("ascii")

    def to_line(self) -> bytes:
        return _with_token(self.signed(), self.token)


@frozen
class StatusRequest:
    """Ask for one page of the pool's status."""

    page: int = 1


@frozen
class HitsRequest:
    """Ask for the last ``count`` hits, newest first."""

    count: int = MAX_HITS


@frozen
class JobRequest:
    """Ask for one job's state."""

    job_id: int


@frozen
class DeadRequest:
    """Ask for the last ``count`` jobs given up (the dead-letter list)."""

    count: int = MAX_HITS


Request = Union[
    CheckRequest, RegisterRequest, HeartbeatRequest, StatusRequest, HitsRequest, JobRequest, DeadRequest
]


def decode_message(data: bytes, limit: int = MAX_DATAGRAM) -> list[str]:
    """Check ``data`` is a plain ASCII message within ``limit`` bytes; return its fields."""
    if len(data) > limit:
        raise ProtocolError(f"message too long ({len(data)} bytes, at most {limit})")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("message is not ASCII") from None
    if _CONTROL.search(text):
        raise ProtocolError("message contains control characters")
    fields = text.split()
    if not fields:
        raise ProtocolError("empty message")
    return fields


def _expect(verb: str, args: list[str], least: int, most: int, usage: str) -> None:
    if not least <= len(args) <= most:
        raise ProtocolError(f"wrong number of arguments for {verb}: usage {usage}")


def check_url(url: str) -> str:
    """Return ``url`` if it is an absolute http or https URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ProtocolError("malformed URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ProtocolError("URL must be an absolute http:// or https:// URL")
    return url


def check_site_id(site_id: str) -> str:
    """Return ``site_id`` if it is a safe folder name (no ``/``, no ``..``, not empty)."""
    if len(site_id) > MAX_SITE_ID or not _SITE_ID.match(site_id):
        raise ProtocolError(
            f"bad SiteID: 1 to {MAX_SITE_ID} of A-Z a-z 0-9 _ . -, not starting with . - _"
        )
    return site_id


def check_ad_id(ad_id: str) -> str:
    """Return ``ad_id`` if it is 1 to MAX_AD_ID visible ASCII characters."""
    if len(ad_id) > MAX_AD_ID or not _VISIBLE.match(ad_id):
        raise ProtocolError(f"bad AdID: 1 to {MAX_AD_ID} visible ASCII characters")
    return ad_id


def check_worker_id(worker_id: str) -> str:
    """Return ``worker_id`` if it is 1 to MAX_WORKER_ID visible ASCII characters."""
    if len(worker_id) > MAX_WORKER_ID or not _VISIBLE.match(worker_id):
        raise ProtocolError(f"bad Identifier: 1 to {MAX_WORKER_ID} visible ASCII characters")
    return worker_id


def check_host(host: str) -> str:
    """Return ``host`` if it looks like a hostname or an IPv4/IPv6 address."""
    if len(host) > MAX_HOST or not _HOST.match(host):
        raise ProtocolError("bad Hostname")
    return host


def check_port(text: str) -> int:
    """Parse a TCP/UDP port number, 1 to 65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ProtocolError("bad Port: an integer from 1 to 65535")
    return int(text)


def _small_int(text: str, low: int, high: int, what: str) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise ProtocolError(f"{what} must be an integer from {low} to {high}")
    return int(text)


def _options(verb: str, extra: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` options after a request's fixed fields."""
    options: dict[str, str] = {}
    for item in extra:
        key, equals, value = item.partition("=")
        if not equals or key not in allowed or key in options or not value:
            raise ProtocolError(
                f"wrong number of arguments for {verb}, or a bad option {item[:30]!r} "
                f"(options: {', '.join(k + '=' for k in allowed)})"
            )
        options[key] = value
    return options


def make_check(args: list[str], token_allowed: bool = False) -> CheckRequest:
    """Build a CHECK request from its three arguments, validating each."""
    usage = "CHECK <URL> <AdID> <SiteID>"
    if len(args) < 3 or (len(args) > 3 and not token_allowed):
        raise ProtocolError(f"wrong number of arguments for CHECK: usage {usage}")
    url, ad_id, site_id = args[:3]
    options = _options("CHECK", args[3:], ("token",))
    # AdIDs and SiteIDs repeat from job to job: one string each, however many jobs wait
    return CheckRequest(
        check_url(url), sys.intern(check_ad_id(ad_id)), sys.intern(check_site_id(site_id)),
        options.get("token"),
    )


def parse_check(data: bytes) -> CheckRequest:
    """Parse one ``CHECK`` line, as a worker receives it (a token may follow)."""
    verb, *args = decode_message(data)
    if verb.upper() != "CHECK":
        raise ProtocolError(f"unknown command {verb[:20]!r}: a worker only takes CHECK")
    return make_check(args, token_allowed=True)


def parse_request(data: bytes) -> Request:
    """Parse one datagram sent to the orchestrator."""
    verb, *args = decode_message(data)
    verb = verb.upper()
    if verb == "CHECK":
        return make_check(args)
    if verb == "REGISTER":
        _expect(verb, args, 3, 5, "REGISTER <Hostname> <Port> <Identifier>")
        host, port, worker_id = args[:3]
        options = _options(verb, args[3:], ("capacity", "token"))
        capacity = _small_int(options.get("capacity", "1"), 1, MAX_CAPACITY, "capacity")
        return RegisterRequest(
            check_host(host), check_port(port), check_worker_id(worker_id), capacity, options.get("token")
        )
    if verb == "HEARTBEAT":
        _expect(verb, args, 1, 3, "HEARTBEAT <Identifier> [running=<N>] [token=<token>]")
        options = _options(verb, args[1:], ("running", "token"))
        running = _small_int(options.get("running", "0"), 0, MAX_CAPACITY, "running")
        return HeartbeatRequest(check_worker_id(args[0]), running, options.get("token"))
    if verb == "JOB":
        _expect(verb, args, 1, 1, "JOB <id>")
        return JobRequest(_small_int(args[0], 1, 10**15, "job id"))
    if verb == "DEAD":
        _expect(verb, args, 0, 1, "DEAD [<N>]")
        return DeadRequest(_small_int(args[0], 1, MAX_HITS, "N") if args else MAX_HITS)
    if verb in ("STATUS", "POOL_STATUS"):
        _expect(verb, args, 0, 1, f"{verb} [<page>]")
        return StatusRequest(_small_int(args[0], 1, 10**6, "page") if args else 1)
    if verb in ("HITS", "GET_HITS", "LAST_HITS"):
        _expect(verb, args, 0, 1, f"{verb} [<N>]")
        return HitsRequest(_small_int(args[0], 1, MAX_HITS, "N") if args else MAX_HITS)
    raise ProtocolError(
        f"unknown command {verb[:20]!r}: use CHECK, STATUS, HITS, JOB, DEAD, REGISTER or HEARTBEAT"
    )
