"""How a pattern asks for a human review: the ApprovalReview workflow's name and its typed input and output.

Kept apart from handlers/approvals.py (which builds the workflow and reads settings
when imported), so pattern modules stay plain declarations that the CLI can import.
"""

from __future__ import annotations

from typing import Literal

import restate
from pydantic import BaseModel

REVIEW_SERVICE = "ApprovalReview"
REVIEW_HANDLER = "run"
# The shared handler that gives the verdict of a closed review to the request that asked for it.
VERDICT_HANDLER = "verdict"


class ReviewRequest(BaseModel):
    request_id: str
    content: str
    reason: str
    timeout_s: float


class ReviewClosed(BaseModel):
    """What the review's run returns: nothing about the decision.

    Restate serves a workflow's output to anyone who names its key (GET
    /restate/workflow/ApprovalReview/<approval id>/output, even for a private workflow), and
    approval ids travel on a topic: the verdict, its reviewer and comment are read with a call.
    """

    closed: bool = True


class Verdict(BaseModel):
    decision: Literal["approved", "rejected", "timed_out", "cancelled"]
    reviewer: str = ""
    comment: str = ""


async def request_review(ctx: restate.Context, approval_id: str, request: ReviewRequest) -> Verdict:
    """Start the review of ``approval_id``, wait for it to close, then read its verdict (durable calls)."""
    await ctx.generic_call(REVIEW_SERVICE, REVIEW_HANDLER, request.model_dump_json().encode(), key=approval_id)
    answer = await ctx.generic_call(REVIEW_SERVICE, VERDICT_HANDLER, b"", key=approval_id)
    return Verdict.model_validate_json(answer)
