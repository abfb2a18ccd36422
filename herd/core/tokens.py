"""Shared-secret tokens: an HMAC over a message and a time stamp, valid for a short window.

A token is ``<unix time>:<hex HMAC-SHA256(secret, "<unix time>|<message>")>``. The
verifier accepts it if the HMAC matches (compared in constant time), the time stamp is
within ``window`` seconds of its own clock, and the same token has not been seen within
the window (so a captured message cannot be replayed).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Optional

from twisted.internet.interfaces import IReactorTime

SECRET_VARIABLE = "HERD_SECRET"


class TokenError(ValueError):
    """A token that is missing, malformed, wrong, stale or replayed; ``str()`` says which."""


def load_secret(path: Optional[str]) -> Optional[bytes]:
    """The shared secret from ``path`` (stripped), else $HERD_SECRET, else None."""
    if path:
        try:
            secret = Path(path).read_bytes().strip()
        except OSError as error:
            raise ValueError(f"cannot read the secret file {path}: {error.strerror}") from None
        if not secret:
            raise ValueError(f"the secret file {path} is empty")
        return secret
    value = os.environ.get(SECRET_VARIABLE, "").strip()
    return value.encode() if value else None


def _mac(secret: bytes, stamp: str, message: bytes) -> str:
    return hmac.new(secret, stamp.encode() + b"|" + message, hashlib.sha256).hexdigest()


class Tokens:
    """Make and check tokens with one secret and one clock."""

    def __init__(self, secret: bytes, clock: IReactorTime, window: float = 30.0) -> None:
        self._secret = secret
        self._clock = clock
        self.window = window
        self._seen: dict[str, float] = {}

    def make(self, message: bytes) -> str:
        """A fresh token for ``message``."""
        stamp = f"{self._clock.seconds():.6f}"
        return f"{stamp}:{_mac(self._secret, stamp, message)}"

    def check(self, message: bytes, token: Optional[str]) -> None:
        """Raise TokenError unless ``token`` is a fresh, unused token for ``message``."""
        if not token:
            raise TokenError("token missing")
        stamp, _, mac = token.partition(":")
        try:
            when = float(stamp)
        except ValueError:
            raise TokenError("malformed token") from None
        now = self._clock.seconds()
        if abs(now - when) > self.window:
            raise TokenError("token expired or from the future (check the clocks)")
        if not hmac.compare_digest(mac, _mac(self._secret, stamp, message)):
            raise TokenError("bad token")
        self._forget_before(now - self.window)
        if mac in self._seen:
            raise TokenError("token replayed")
        self._seen[mac] = when

    def _forget_before(self, limit: float) -> None:
        if len(self._seen) > 64:
            self._seen = {mac: when for mac, when in self._seen.items() if when >= limit}
