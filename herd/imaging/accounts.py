"""Who may call the API: users log in with a password, workers get a token at subscription.

Tokens are random (256 bits) and stored as SHA-256 digests with their subject, kind
(``user`` or ``worker``) and expiry: a user token lives ``ttl`` seconds unless logged out;
a worker token lives as long as the worker's connection to the controller. Password checks
(scrypt, ~50 ms) run through ``in_thread`` so the reactor is never held.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from herd.core.passwords import hash_password, new_token, token_digest, verify_password
from herd.imaging.controller.store import Store

USER, WORKER = "user", "worker"
_DUMMY = hash_password("not a password")


class BadCredentials(Exception):
    """A login with an unknown name or a wrong password."""


class BadToken(Exception):
    """A token that is missing, unknown, expired or revoked; ``str()`` says which."""


@frozen
class Principal:
    """Who a token speaks for."""

    subject: str
    kind: str
    digest: str

    @property
    def is_worker(self) -> bool:
        """Whether this is a worker's token."""
        return self.kind == WORKER


InThread = Callable[..., "Deferred[Any]"]


class Accounts:
    """Users, logins, bearer tokens."""

    log = Logger()

    def __init__(self, store: Store, clock: IReactorTime, ttl: float, in_thread: InThread) -> None:
        self._store = store
        self._clock = clock
        self.ttl = ttl
        self._in_thread = in_thread

    def set_users(self, users: dict[str, str]) -> None:
        """Replace the users (name -> password hash); tokens of removed users stop working."""
        self._store.replace_users(users)

    async def login(self, name: str, password: str) -> str:
        """A new user token, or BadCredentials."""
        stored = self._store.password_hash(name)
        ok = await self._in_thread(verify_password, password, stored or _DUMMY)
        if stored is None or not ok:
            raise BadCredentials(name)
        return self._issue(name, USER, self._clock.seconds() + self.ttl)

    def issue_worker_token(self, name: str) -> str:
        """A token for worker ``name``, valid until ``revoke``."""
        return self._issue(name, WORKER, None)

    def _issue(self, subject: str, kind: str, expires: Optional[float]) -> str:
        token = new_token()
        now = self._clock.seconds()
        self._store.add_token(token_digest(token), subject, kind, now, expires)
        self._store.forget_tokens(now)
        return token

    def authenticate(self, token: Optional[str]) -> Principal:
        """Who ``token`` speaks for, or BadToken."""
        if not token:
            raise BadToken("a bearer token is required (Authorization: Bearer <token>)")
        digest = token_digest(token)
        row = self._store.token(digest)
        if row is None:
            raise BadToken("unknown token")
        subject, kind, expires, revoked = row
        if revoked:
            raise BadToken("token revoked")
        if expires is not None and self._clock.seconds() >= expires:
            raise BadToken("token expired")
        if kind == USER and self._store.password_hash(subject) is None:
            raise BadToken("no such user any more")
        return Principal(subject, kind, digest)

    def revoke(self, token: str) -> None:
        """Refuse ``token`` from now on."""
        self._store.revoke_token(token_digest(token))

    def revoke_principal(self, principal: Principal) -> None:
        """Refuse the token behind ``principal`` from now on."""
        self._store.revoke_token(principal.digest)
