"""``check-hits ORCH_HOST ORCH_PORT [N]``: the last N hits (N at most 5), newest first."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from herd.protocols.scan import MAX_HITS
from herd.protocols.scan_replies import format_time, parse_hits
from herd.scan.cli.udp_client import ClientError, query


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print one hit per line: worker, site, ad string, fetch time (UTC), folder."""
    p = argparse.ArgumentParser(prog="check-hits", description="Show the last hits of the pool.")
    p.add_argument("host", metavar="ORCH_HOST")
    p.add_argument("port", metavar="ORCH_PORT", type=int)
    p.add_argument("count", metavar="N", type=int, nargs="?", default=MAX_HITS,
                   help=f"how many hits, 1 to {MAX_HITS} (default {MAX_HITS})")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the reply")
    args = p.parse_args(argv)
    if not 1 <= args.count <= MAX_HITS:
        p.error(f"N must be from 1 to {MAX_HITS}")
    try:
        hits = query(args.host, args.port, b"HITS %d" % args.count, args.timeout, parse_hits)
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not hits:
        print("no hits yet")
    for hit in hits:
        print(
            f"{hit.worker_id} {hit.site_id} {hit.ad_id} {format_time(hit.fetched)} "
            f"{hit.site_id}/{hit.folder}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
