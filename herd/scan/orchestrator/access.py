"""Who may ask the orchestrator what: the step before any request is routed.

Clients (CHECK, STATUS, HITS, JOB, DEAD) must come from an address of ``clients``; workers
(REGISTER, HEARTBEAT) from an address of ``workers`` and, when a secret is shared, carry a
valid, fresh, unreplayed token (``herd.core.tokens``).
"""

from __future__ import annotations

from typing import Optional

from attrs import field, frozen

from herd.core.allowlist import AllowList
from herd.core.tokens import TokenError, Tokens
from herd.protocols.scan import HeartbeatRequest, RegisterRequest, Request
from herd.protocols.scan_replies import format_error
from herd.core.loglevel import LevelLogger

WORKER_REQUESTS = (RegisterRequest, HeartbeatRequest)


@frozen
class Access:
    """The allow-lists and the workers' tokens; ``refuse`` applies them to one request."""

    log = LevelLogger()

    clients: AllowList = field(factory=AllowList)
    workers: AllowList = field(factory=AllowList)
    tokens: Optional[Tokens] = None

    def refuse(self, request: Request, sender: str) -> Optional[bytes]:
        """The ``403 ERROR`` reply for a request ``sender`` may not make; None if it may."""
        if not isinstance(request, WORKER_REQUESTS):
            if self.clients.allows(sender):
                return None
            return format_error(f"{sender} is not allowed to use this orchestrator", "403 ERROR")
        if not self.workers.allows(sender):
            return format_error(f"{sender} is not allowed to join this pool", "403 ERROR")
        if self.tokens is None:
            return None
        try:
            self.tokens.check(request.signed(), request.token)
        except TokenError as error:
            self.log.warn("refused {request} from {sender}: {reason}",
                          request=request.signed().decode(), sender=sender, reason=str(error))
            return format_error(str(error), "403 ERROR")
        return None
