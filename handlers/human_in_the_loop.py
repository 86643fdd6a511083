"""Human in the loop: the LLM moderates; when unsure, a person decides through Kafka.

Content → LLM (may call get_human_review) → approval request on agent.approval-requests
        → ApprovalReview waits on a durable promise ← signed approval event on agent.approvals
          (or the review timeout)
"""

from __future__ import annotations

import math
import re

from restate import TerminalError

from agentpipe.messages import Status
from agentpipe.patterns import PATTERNS
from agentpipe.records import printable
from agentpipe.requests import ModerationRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.review_call import ReviewRequest, request_review
from handlers.runtime import Outcome, PatternRun
from handlers.tools import GET_HUMAN_REVIEW, BadToolCall, parse_arguments


async def ask_a_human(run: PatternRun[ModerationRequest], request: ModerationRequest, reason: str) -> Outcome:
    ctx = run.ctx
    approval_id = f"approval-{ctx.uuid()}"  # deterministic: seeded by Restate, same on replay
    deadline_s = min(request.review_timeout_s or math.inf, (await run.bounds()).review_timeout_s)
    # Cancelling this request cancels the review too (Restate cancels the call), which then
    # takes its promise, so a decision that arrives later is reported, not applied.
    verdict = await request_review(
        ctx,
        approval_id,
        ReviewRequest(request_id=run.request_id, content=request.text, reason=reason, timeout_s=deadline_s),
    )
    if verdict.decision == "timed_out":
        return Outcome(output=f"no decision on {approval_id} within the review timeout", status="timed_out")
    if verdict.decision == "cancelled":
        raise TerminalError(f"review {approval_id} was cancelled")
    status: Status = "ok" if verdict.decision == "approved" else "rejected"
    comment = f": {verdict.comment}" if verdict.comment else ""
    return Outcome(output=f"{verdict.decision} by {verdict.reviewer or 'reviewer'}{comment}", status=status)


async def moderate_content(run: PatternRun[ModerationRequest], request: ModerationRequest) -> Outcome:
    messages = [{"role": "system", "content": prompts.MODERATOR}, {"role": "user", "content": request.text}]
    reply = await run.llm("Moderate content", messages, tools=[GET_HUMAN_REVIEW])
    for call in reply.tool_calls:
        try:
            reason = parse_arguments(call, [GET_HUMAN_REVIEW])["reason"]
        except BadToolCall as exc:
            reason = f"the model asked for review ({exc})"
        return await ask_a_human(run, request, reason)
    verdict = reply.text.strip()
    decision = explicit_decision(verdict)
    if decision is None:
        # Fail closed: a refusal, an empty or an injected reply approves nothing; a person decides.
        return await ask_a_human(run, request, f"the model gave no decision: {printable(verdict, 120)!r}")
    return Outcome(output=verdict, status=decision)


def explicit_decision(verdict: str) -> Status | None:
    """``ok`` for a reply that starts with the word APPROVED, ``rejected`` for REJECTED, else None."""
    word = re.match(r"[\s*_#>`]*([A-Za-z]+)", verdict)  # markdown emphasis around the word is fine
    first = word.group(1).upper() if word else ""
    return "ok" if first == "APPROVED" else "rejected" if first == "REJECTED" else None


PATTERN = Pattern(PATTERNS["human-in-the-loop"], work=moderate_content)
