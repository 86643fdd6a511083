"""Human in the loop: the LLM moderates; when unsure, a person decides through Kafka.

    Content → LLM (may call get_human_review) → approval request on agent.approval-requests
            → ApprovalReview waits on a durable promise ← signed approval event on agent.approvals
              (or the review timeout)
"""

from __future__ import annotations

import math

import restate
from restate import TerminalError

from handlers import approvals, prompts
from handlers.policies import invocation_retry_policy
from handlers.requests import ModerationRequest
from handlers.runtime import Outcome, PatternRun, run_pattern
from handlers.tools import GET_HUMAN_REVIEW, BadToolCall, parse_arguments

human_in_the_loop = restate.Service("HumanInTheLoopService", invocation_retry_policy=invocation_retry_policy())


async def ask_a_human(run: PatternRun, request: ModerationRequest, reason: str) -> Outcome:
    ctx = run.ctx
    approval_id = f"approval-{ctx.uuid()}"  # deterministic: seeded by Restate, same on replay
    deadline_s = min(request.review_timeout_s or math.inf, (await run.bounds()).review_timeout_s)
    # Cancelling this request cancels the review too (Restate cancels the call), which then
    # takes its promise, so a decision that arrives later is reported, not applied.
    verdict = await ctx.workflow_call(
        approvals.run, key=approval_id,
        arg=approvals.ReviewRequest(request_id=run.request_id, content=request.text, reason=reason,
                                    timeout_s=deadline_s),
    )
    if verdict.decision == "timed_out":
        return Outcome(output=f"no decision on {approval_id} within the review timeout", status="timed_out")
    if verdict.decision == "cancelled":
        raise TerminalError(f"review {approval_id} was cancelled")
    status = "ok" if verdict.decision == "approved" else "rejected"
    comment = f": {verdict.comment}" if verdict.comment else ""
    return Outcome(output=f"{verdict.decision} by {verdict.reviewer or 'reviewer'}{comment}", status=status)


async def moderate_content(run: PatternRun, request: ModerationRequest) -> Outcome:
    messages = [{"role": "system", "content": prompts.MODERATOR}, {"role": "user", "content": request.text}]
    reply = await run.llm("Moderate content", messages, tools=[GET_HUMAN_REVIEW])
    for call in reply["tool_calls"]:
        try:
            reason = parse_arguments(call, [GET_HUMAN_REVIEW])["reason"]
        except BadToolCall as exc:
            reason = f"the model asked for review ({exc})"
        return await ask_a_human(run, request, reason)
    verdict = (reply["content"] or "").strip()
    status = "rejected" if verdict.upper().startswith("REJECTED") else "ok"
    return Outcome(output=verdict, status=status)


@human_in_the_loop.handler()
async def moderate(ctx: restate.Context, request: ModerationRequest) -> dict:
    return await run_pattern(ctx, "human-in-the-loop", request, moderate_content)
