"""Human decisions: which approvals wait for a person, and signed approval events.

Pending = Restate holds the review with status pending, its approval request is
published and its invocation has not finished (producers.approval_state). A
decision is a signed event on the approvals topic; the handler checks the
signature and applies the first valid one.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Iterator

from agentpipe.messages import ApprovalEvent, approval_signature
from agentpipe.patterns import PATTERNS
from agentpipe.topics import approvals_topic
from producers.approval_key import require_approval_secret
from producers.approval_state import PENDING, ApprovalState, PendingApproval
from producers.broker import Publisher
from producers.errors import NotFound, NotOk
from producers.shapes import ApprovalRequestValue

# The one pattern that asks people; topics.py names patterns but has no constant for this one.
HITL = PATTERNS["human-in-the-loop"].name
FOLLOW_INTERVAL_S = 1.0


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def signed_event(approval_id: str, decision: str, reviewer: str = "", comment: str = "") -> dict:
    """An approval event as the contract in docs/contract.md defines it."""
    signature = approval_signature(require_approval_secret(), approval_id, decision)
    return ApprovalEvent(
        approval_id=approval_id, decision=decision, reviewer=reviewer, comment=comment, signature=signature
    ).model_dump()


def publish_decision(
    publisher: Publisher, approval_id: str, decision: str, reviewer: str = "", comment: str = ""
) -> dict:
    event = signed_event(approval_id, decision, reviewer, comment)
    publisher.publish(approvals_topic(), event, key=approval_id)
    publisher.flush()
    return event


def check_decidable(state: ApprovalState, approval_id: str) -> ApprovalRequestValue:
    """The approval request, or a one-line reason why deciding it would change nothing."""
    approval = state.find(approval_id)
    if approval is None:
        raise NotFound(f"no approval request with id {approval_id!r} (unknown, or past its retention)")
    if approval.status != PENDING:
        raise NotOk(f"approval {approval_id} is already {approval.status}")
    if not approval.waiting:
        raise NotOk(f"the review of approval {approval_id} has ended without a decision")
    if approval.request is None:
        raise NotOk(f"approval {approval_id} is not requested yet (its request is being published); try again")
    return approval.request


def follow_pending(state: ApprovalState, already: set[str]) -> Iterator[PendingApproval]:
    """Approvals that become pending, polled from Restate's state, each once."""
    while True:
        pending = state.pending()
        for approval in pending:
            if approval.approval_id not in already:
                already.add(approval.approval_id)
                yield approval
        already &= {a.approval_id for a in pending}  # decided ones never come back: forget them
        time.sleep(FOLLOW_INTERVAL_S)
