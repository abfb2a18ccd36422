"""``client-v2 URL AdID SiteID``: send one UDP CHECK per try to the orchestrator."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

from herd.protocols.scan import ProtocolError, make_check
from herd.protocols.scan_replies import Ack, parse_ack
from herd.scan.cli.udp_client import NoAnswer, ask


def parser() -> argparse.ArgumentParser:
    """The command line of client-v2 (the Part 1 client's, over UDP)."""
    p = argparse.ArgumentParser(
        prog="client-v2", description="Queue ad-check requests at the scan orchestrator."
    )
    p.add_argument("url", metavar="URL", help="page to scan (http:// or https://)")
    p.add_argument("ad_id", metavar="AdID", help="ad string to look for")
    p.add_argument("site_id", metavar="SiteID", help="site identifier (folder name)")
    p.add_argument("--server", default="127.0.0.1", help="orchestrator host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=54000, help="orchestrator UDP port (default 54000)")
    p.add_argument("--tries", type=int, default=1, help="requests to send (default 1)")
    p.add_argument("--gap", type=float, default=1.0, help="seconds between tries (default 1)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply")
    p.add_argument("--showTime", action="store_true", help="print the time each try took")
    p.add_argument("--verbose", action="store_true", help="say what is sent")
    return p


def _acknowledged(reply: bytes) -> bool:
    try:
        return isinstance(parse_ack(reply), Ack)
    except ProtocolError:
        return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run client-v2; the exit status is 0 when every try was acknowledged with 200."""
    args = parser().parse_args(argv)
    if args.tries < 1 or args.gap < 0 or args.timeout <= 0:
        parser().error("--tries must be >= 1, --gap >= 0 and --timeout > 0")
    try:
        message = make_check([args.url, args.ad_id, args.site_id]).to_line().rstrip(b"\n")
    except ProtocolError as error:
        parser().error(str(error))
    failures = 0
    for attempt in range(1, args.tries + 1):
        if attempt > 1:
            time.sleep(args.gap)
        if args.verbose:
            print(f"try {attempt}/{args.tries}: {message.decode()} -> {args.server}:{args.port}")
        started = time.monotonic()
        try:
            reply = ask(args.server, args.port, message, args.timeout)
        except NoAnswer as error:
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        print(reply.decode("ascii", "replace").strip())
        if args.showTime:
            print(f"time: {time.monotonic() - started:.6f} s")
        failures += not _acknowledged(reply)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
