"""Reading a request: bearer and basic credentials, form, multipart or JSON parameters."""

from __future__ import annotations

import base64
import binascii
import json
from email.message import Message
from email.parser import BytesParser
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


def _multipart(header: bytes, raw: bytes) -> dict[bytes, list[bytes]]:
    """The parts of a multipart/form-data body, by field name."""
    message: Message = BytesParser().parsebytes(
        b"MIME-Version: 1.0\r\nContent-Type: " + header + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        boundary = message.get_boundary()
        if boundary and raw.strip() == f"--{boundary}--".encode("latin-1"):
            return {}  # a form without a field
        raise BadRequest("malformed multipart/form-data body")
    parts: dict[bytes, list[bytes]] = {}
    for part in message.get_payload():  # type: ignore[union-attr]
        name = part.get_param("name", header="content-disposition")
        if not name or not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        parts.setdefault(name.encode("utf-8"), []).append(payload or b"")
    return parts
