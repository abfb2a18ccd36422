"""Reading a request: bearer and basic credentials, form, multipart or JSON parameters."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Optional
from urllib.parse import parse_qs

from twisted.web.iweb import IRequest

from herd.imaging.api.errors import BadRequest


def bearer(request: IRequest) -> Optional[str]:
    """The token of ``Authorization: Bearer <token>``, or None."""
    header = request.getHeader(b"authorization")
    if not header:
        return None
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def basic(request: IRequest) -> Optional[tuple[str, str]]:
    """``(user, password)`` of ``Authorization: Basic ...``, or None."""
    header = request.getHeader(b"authorization")
    if not header:
        return None
    scheme, _, encoded = header.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class Params:
    """A request's parameters: form fields, multipart fields, query string or JSON object.

    The site does not parse bodies itself (``parsePOSTFormSubmission=False``), so that a
    malformed body gets a JSON 400 from here rather than a bare one from Twisted.
    """

    def __init__(self, request: IRequest) -> None:
        self._args: dict[bytes, list[bytes]] = {}
        for key, values in (request.args or {}).items():
            self._args.setdefault(key, []).extend(values)
        self._json: dict[str, object] = {}
        header = request.getHeader(b"content-type") or b""
        ctype = header.split(b";")[0].strip().lower()
        raw = b""
        if request.content is not None:
            request.content.seek(0)
            raw = request.content.read()
            request.content.seek(0)
        if not raw.strip():
            return
        if ctype == b"multipart/form-data":
            self._args.update(_multipart(header, raw))
        elif ctype == b"application/x-www-form-urlencoded":
            try:
                form = parse_qs(raw.decode("latin-1"), keep_blank_values=True, errors="strict")
            except ValueError:
                raise BadRequest("malformed form body (URL-encoded UTF-8 expected)") from None
            for key, values in form.items():
                self._args[key.encode("utf-8")] = [v.encode("utf-8") for v in values]
        elif ctype == b"application/json":
            if raw.strip():
                try:
                    document = json.loads(raw)
                except ValueError:
                    raise BadRequest("the body is not valid JSON") from None
                if not isinstance(document, dict):
                    raise BadRequest("the JSON body must be an object")
                self._json = document

    def text(self, name: str, default: Optional[str] = None, limit: int = 256) -> Optional[str]:
        """The text parameter ``name`` (trimmed), or ``default`` when absent or blank."""
        if name in self._json:
            value = self._json[name]
            if isinstance(value, list):
                if not all(isinstance(v, str) for v in value):
                    raise BadRequest(f"{name} must be a string or an array of strings")
                value = ",".join(value)
            if value is None:
                return default
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise BadRequest(f"{name} must be a string")
            text = str(value)
        elif name.encode() in self._args:
            try:
                text = self._args[name.encode()][0].decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(f"{name} is not UTF-8 text") from None
        else:
            return default
        text = text.strip()
        if len(text) > limit:
            raise BadRequest(f"{name} is longer than {limit} characters")
        if "\x00" in text:
            raise BadRequest(f"{name} contains a NUL character")
        return text or default

    def file(self, name: str) -> Optional[bytes]:
        """The bytes of the form part ``name``, or None."""
        values = self._args.get(name.encode())
        return values[0] if values else None


_NAME = re.compile(rb'(?:^|;)\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.I)
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.I)


def _multipart(header: bytes, raw: bytes) -> dict[bytes, list[bytes]]:
    """The parts of a multipart/form-data body, by field name (byte searches only: a
    32 MiB upload splits in milliseconds, on the reactor thread)."""
    found = _BOUNDARY.search(header)
    if found is None:
        raise BadRequest("multipart/form-data without a boundary")
    delimiter = b"--" + (found.group(1) or found.group(2))
    if raw.strip() == delimiter + b"--":
        return {}  # a form without a field
    start = raw.find(delimiter)
    if start < 0:
        raise BadRequest("malformed multipart/form-data body (no boundary in it)")
    parts: dict[bytes, list[bytes]] = {}
    position = start + len(delimiter)
    while True:
        if raw.startswith(b"--", position):
            return parts  # the closing delimiter
        following = raw.find(b"\r\n" + delimiter, position)
        if following < 0:
            raise BadRequest("malformed multipart/form-data body (unterminated part)")
        part = raw[position:following]
        head, sep, body = part.partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest("malformed multipart/form-data body (part without headers)")
        for line in head.split(b"\r\n"):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-disposition":
                name = _NAME.search(value)
                if name is not None:
                    parts.setdefault(name.group(1) or name.group(2), []).append(body)
        position = following + 2 + len(delimiter)
