"""Salted password hashes (scrypt) and random bearer tokens stored only as digests.

A password hash is one printable string, ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so
it fits on a line of a users file or in a database column; ``verify_password`` reads its
parameters back, so hashes made with other costs keep working. Bearer tokens come from
``secrets`` (256 bits) and are kept as their SHA-256 digest: a stolen database gives no
usable token, and a random token needs no slow hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024


class BadHash(ValueError):
    """A stored password hash that cannot be read."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, size: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=_MAXMEM, dklen=size)


def hash_password(password: str, n: int = N, r: int = R, p: int = P) -> str:
    """A new salted scrypt hash of ``password``."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, n, r, p, 32)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            raise ValueError(scheme)
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True),
                         int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError) as error:
        raise BadHash(f"unreadable password hash: {error}") from None
    return hmac.compare_digest(actual, expected)


def check_hash(stored: str) -> None:
    """Raise BadHash unless ``stored`` looks like a hash ``verify_password`` reads."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(x.isdigit() for x in parts[1:4]):
        raise BadHash("not a scrypt$n$r$p$salt$hash string")


def new_token() -> str:
    """A fresh random bearer token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored for ``token``: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
