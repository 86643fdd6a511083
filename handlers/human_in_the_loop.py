"""Human in the loop: the LLM moderates; when unsure, a person decides through Kafka.

    Content → LLM (may call get_human_review) → approval request on agent.approval-requests
            → suspend on a durable promise ← approval event on agent.approvals (or review timeout)
"""

from __future__ import annotations

import math
from datetime import timedelta

import restate

from agentpipe.messages import ApprovalRequest
from agentpipe.settings import get_settings
from handlers import approvals, prompts
from handlers.requests import ModerationRequest
from handlers.runtime import Outcome, PatternRun, publish_step, run_pattern
from handlers.tools import GET_HUMAN_REVIEW, BadToolCall, parse_arguments
from subscriptions.topics import approval_requests_topic

human_in_the_loop = restate.Service("HumanInTheLoopService")


async def ask_a_human(run: PatternRun, request: ModerationRequest, reason: str) -> Outcome:
    ctx = run.ctx
    approval_id = f"approval-{ctx.uuid()}"  # deterministic: seeded by Restate, same on replay
    awakeable_id, decision = ctx.awakeable(type_hint=dict)
    await ctx.object_call(
        approvals.open_gate, key=approval_id,
        arg=approvals.PendingApproval(awakeable_id=awakeable_id, request_id=run.request_id),
    )
    approval = ApprovalRequest(approval_id=approval_id, request_id=run.request_id, content=request.text,
                               reason=reason, requested_at="")
    await publish_step(ctx, "Publish approval request", approval_requests_topic(), approval_id,
                       approval.model_dump(), "requested_at")
    deadline_s = min(request.review_timeout_s or math.inf, get_settings().review_timeout_s)
    timeout = ctx.sleep(timedelta(seconds=deadline_s), name="Review timeout")
    try:
        winner = await restate.select(decision=decision, timeout=timeout)
    except restate.TerminalError:
        await ctx.object_call(approvals.cancel, key=approval_id, arg=None)  # cancelled while waiting
        raise
    match winner:
        case ["decision", verdict]:
            pass
        case _:
            if await ctx.object_call(approvals.expire, key=approval_id, arg=None):
                return Outcome(output=f"no decision on {approval_id} within the review timeout",
                               status="timed_out")
            verdict = await decision  # a decision arrived in the same instant and won
    status = "ok" if verdict["decision"] == "approved" else "rejected"
    comment = f": {verdict['comment']}" if verdict.get("comment") else ""
    return Outcome(output=f"{verdict['decision']} by {verdict.get('reviewer') or 'reviewer'}{comment}", status=status)


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
