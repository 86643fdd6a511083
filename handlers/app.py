"""The agent service's ASGI app: the ten pattern services, the request-id claims and the approval review.

Over Restate's HTTP ingress only the ten pattern handlers and Chat's read
handler are reachable; the patterns' ingest handlers, the claims and everything
that decides an approval are private to Restate. The app itself answers only restate-server: every request
must carry a request identity signed with the stack's key.
"""

from __future__ import annotations

import restate
from restate.server_types import RestateAppT

from agentpipe.settings import get_settings
from handlers.approvals import approval_intake, review
from handlers.catalog import PATTERNS
from handlers.pattern_service import pattern_service
from handlers.provider_budget import budget
from handlers.request_ids import request_ids_object
from handlers.taker import add_taker


# What the patterns' record intake depends on, and where decisions enter.
def services() -> list[restate.Service | restate.VirtualObject | restate.Workflow]:
    request_ids = request_ids_object()
    for pattern in PATTERNS.values():
        if not pattern.keyed:
            add_taker(request_ids, pattern)
    return [request_ids, approval_intake, review, budget, *(pattern_service(pattern) for pattern in PATTERNS.values())]


def build_app() -> RestateAppT:
    return restate.app(services=services(), identity_keys=get_settings().request_identity_keys)
