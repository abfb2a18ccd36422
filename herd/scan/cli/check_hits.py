"""``check-hits ORCH_HOST ORCH_PORT [N]``: the last N hits (N at most 5), newest first."""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from herd.protocols.scan_replies import format_time, parse_hits
from herd.scan.cli.orchestrator_query import ask_recent


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print one hit per line: worker, site, ad string, fetch time (UTC), folder."""
    hits = ask_recent(argv, "check-hits", "Show the last hits of the pool.", "hits", b"HITS", parse_hits)
    if hits is None:
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
