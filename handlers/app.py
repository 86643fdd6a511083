"""The agent service's ASGI app: the intakes, the approval review and the ten pattern services.

Over Restate's HTTP ingress only the ten pattern handlers and Chat's read
handler are reachable; the intakes and everything that decides an approval are
private to Restate. The app itself answers only restate-server: every request
must carry a request identity signed with the stack's key.
"""

from __future__ import annotations

import restate
from restate.server_types import RestateAppT

from agentpipe.settings import get_settings
from handlers.approvals import approval_intake, review
from handlers.catalog import PATTERNS
from handlers.intake import chat_intake, request_intake
from handlers.request_ids import request_ids

# Where the records enter, and what they depend on.
INTAKE_SERVICES: list[restate.Service | restate.VirtualObject | restate.Workflow] = [
    request_intake,
    chat_intake,
    request_ids,
    approval_intake,
    review,
]


def services() -> list[restate.Service | restate.VirtualObject | restate.Workflow]:
    return [*INTAKE_SERVICES, *(pattern.component() for pattern in PATTERNS.values())]


def build_app() -> RestateAppT:
    return restate.app(services=services(), identity_keys=get_settings().request_identity_keys)
