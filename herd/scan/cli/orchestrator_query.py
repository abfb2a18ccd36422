"""What the scripts that ask the orchestrator share: ``ORCH_HOST ORCH_PORT [N]`` and
``--timeout`` on the command line, one query, and an error on stderr when it fails."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence, TypeVar

from herd.protocols.scan import MAX_HITS
from herd.scan.cli.udp_client import ClientError, query

T = TypeVar("T")


def orchestrator_parser(prog: str, description: str, count: Optional[str] = None) -> argparse.ArgumentParser:
    """``ORCH_HOST ORCH_PORT`` and ``--timeout``; with ``count`` (its help), an optional N too."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("host", metavar="ORCH_HOST")
    p.add_argument("port", metavar="ORCH_PORT", type=int)
    if count is not None:
        p.add_argument("count", metavar="N", type=int, nargs="?", default=MAX_HITS, help=count)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the reply")
    return p


def ask(args: argparse.Namespace, message: bytes, parse: Callable[[bytes], T]) -> Optional[T]:
    """Send ``message``, parse the reply; None (and why, on stderr) when that fails."""
    try:
        return query(args.host, args.port, message, args.timeout, parse)
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def ask_recent(argv: Optional[Sequence[str]], prog: str, description: str, noun: str,
               verb: bytes, parse: Callable[[bytes], T]) -> Optional[T]:
    """``<prog> ORCH_HOST ORCH_PORT [N]``: check N (1 to MAX_HITS), ask ``<verb> <N>``, parse
    the reply; None (and why, on stderr) when that fails."""
    p = orchestrator_parser(prog, description, count=f"how many {noun}, 1 to {MAX_HITS} (default {MAX_HITS})")
    args = p.parse_args(argv)
    if not 1 <= args.count <= MAX_HITS:
        p.error(f"N must be from 1 to {MAX_HITS}")
    return ask(args, b"%s %d" % (verb, args.count), parse)
