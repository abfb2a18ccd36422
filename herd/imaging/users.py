"""The users file: one ``name:scrypt$...`` line per user, never a password.

Blank lines and lines starting with ``#`` are ignored. Names are 1-64 characters without
``:`` or white space. ``bin/imaging-passwd`` writes it; the server reads it at start-up and
again on SIGHUP.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from herd.core.passwords import BadHash, check_hash

_NAME = re.compile(r"^[^\s:]{1,64}$")


class UsersFileError(ValueError):
    """A users file that cannot be read; ``str()`` says where."""


def valid_name(name: str) -> bool:
    """Whether ``name`` can be a user name."""
    return bool(_NAME.match(name))


def parse_users(text: str, origin: str = "users file") -> dict[str, str]:
    """``{name: password hash}`` from the text of a users file."""
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        try:
            if not sep or not valid_name(name):
                raise BadHash("expected NAME:HASH")
            check_hash(stored)
        except BadHash as error:
            raise UsersFileError(f"{origin}, line {number}: {error}") from None
        users[name] = stored
    return users


def read_users(path: Path) -> dict[str, str]:
    """The users of the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsersFileError(f"cannot read {path}: {error.strerror}") from None
    return parse_users(text, str(path))


def write_users(path: Path, users: dict[str, str]) -> None:
    """Replace the file at ``path`` atomically (mode 0600)."""
    lines = "".join(f"{name}:{stored}\n" for name, stored in sorted(users.items()))
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# imaging users: NAME:scrypt$n$r$p$salt$hash (bin/imaging-passwd)\n" + lines)
    os.replace(temporary, path)
