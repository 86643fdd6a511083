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


class ReviewRequest(BaseModel):
    request_id: str
    content: str
    reason: str
    timeout_s: float


class Verdict(BaseModel):
    decision: Literal["approved", "rejected", "timed_out", "cancelled"]
    reviewer: str = ""
    comment: str = ""


async def request_review(ctx: restate.Context, approval_id: str, request: ReviewRequest) -> Verdict:
    """Start the review of ``approval_id`` and wait for its verdict (a durable call through Restate)."""
    answer = await ctx.generic_call(REVIEW_SERVICE, REVIEW_HANDLER, request.model_dump_json().encode(), key=approval_id)
    return Verdict.model_validate_json(answer)
