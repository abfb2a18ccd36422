"""``imaging-passwd FILE NAME``: add a user to an imaging users file, or change their password.

The password is read from standard input (one line; asked twice without echo on a
terminal) and only its salted scrypt hash is written. The file is created (mode 0600)
when absent. ``--delete`` removes the user. A running server picks the change up on
SIGHUP (``kill -HUP <pid>``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from herd.core.passwords import hash_password
from herd.imaging.users import UsersFileError, read_users, valid_name, write_users


def read_password() -> str:
    """The new password from standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != first:
            raise SystemExit("imaging-passwd: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imaging-passwd", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="users file (created when absent)")
    parser.add_argument("name", help="user name (no ':' nor white space)")
    parser.add_argument("--delete", action="store_true", help="remove the user")
    args = parser.parse_args(argv)
    if not valid_name(args.name):
        parser.error(f"invalid user name {args.name!r}")
    try:
        users = read_users(args.file) if args.file.exists() else {}
    except UsersFileError as error:
        print(f"imaging-passwd: {error}", file=sys.stderr)
        return 1
    if args.delete:
        if users.pop(args.name, None) is None:
            print(f"imaging-passwd: no user {args.name!r}", file=sys.stderr)
            return 1
        action = "removed"
    else:
        password = read_password()
        if not password:
            print("imaging-passwd: empty password refused", file=sys.stderr)
            return 1
        action = "changed" if args.name in users else "added"
        users[args.name] = hash_password(password)
    write_users(args.file, users)
    print(f"user {args.name} {action} in {args.file} (send SIGHUP to a running server)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
