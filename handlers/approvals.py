"""Approvals: a durable promise that only a checked, signed decision can complete.

    HumanInTheLoopService → ApprovalReview[approval_id].run
        publish the approval request → wait on promise "decision" (or the review timeout)
    agent.approvals → ApprovalIntake[record key] → ApprovalReview[approval_id].decide
        check the HMAC signature → resolve promise "decision" (the first one wins)

The decision is checked where it is consumed: ``decide`` is the only code that
completes the promise, and it does so only for an event signed with the
approval key. Workflow promises cannot be completed from outside Restate (unlike
awakeables, which anyone who learns the id can resolve over HTTP ingress), and
the whole workflow is private to Restate. The review timeout and cancellation
complete the same promise, so whatever comes later (a decision after the
timeout, a second decision) finds it taken and is reported, not applied.
ApprovalIntake is keyed by the record key (the approval id), so decisions on one
approval are applied in topic order. Finished reviews are kept for
``approval_retention_s`` and then deleted by Restate.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import restate
from pydantic import BaseModel
from restate import TerminalError
from restate.serde import BytesSerde

from agentpipe.approval_records import parse_approval_event
from agentpipe.logs import get_logger
from agentpipe.messages import ApprovalEvent, ApprovalRequest, signature_problem
from agentpipe.records import RejectedRecord, printable
from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic
from handlers.intake import record_key, record_origin, record_source
from handlers.policies import invocation_retry_policy, waiting_inactivity_timeout
from handlers.review_call import REVIEW_HANDLER, REVIEW_SERVICE, VERDICT_HANDLER, ReviewClosed, ReviewRequest, Verdict
from handlers.runtime import publish_dead_letter, publish_step
from subscriptions.desired import APPROVAL_INTAKE

log = get_logger(__name__)

DECISION = "decision"
# State of a review, read by `agentpipe approvals` (producers/approval_state.py) over Restate's SQL API.
REQUEST_ID, STATUS, REQUESTED = "request_id", "status", "requested"
ReviewStatus = Literal["pending", "approved", "rejected", "timed_out", "cancelled"]


class DecideOutcome(BaseModel):
    applied: bool
    reason: str = ""
    request_id: str | None = None


review = restate.Workflow(REVIEW_SERVICE, ingress_private=True, invocation_retry_policy=invocation_retry_policy())


def _set_status(ctx: restate.WorkflowContext, status: ReviewStatus) -> None:
    ctx.set(STATUS, status)


@review.main(
    REVIEW_HANDLER,
    workflow_retention=timedelta(seconds=get_settings().approval_retention_s),
    inactivity_timeout=waiting_inactivity_timeout(),
)
async def run(ctx: restate.WorkflowContext, request: ReviewRequest) -> ReviewClosed:
    approval_id = ctx.key()
    ctx.set(REQUEST_ID, request.request_id)
    _set_status(ctx, "pending")
    approval = ApprovalRequest(
        approval_id=approval_id,
        request_id=request.request_id,
        content=request.content,
        reason=request.reason,
        requested_at="",
    )
    decision = ctx.promise(DECISION, type_hint=Verdict)
    try:
        published = await publish_step(
            ctx,
            "Publish approval request",
            approval_requests_topic(),
            approval_id,
            approval.model_dump(),
            "requested_at",
        )
        ctx.set(REQUESTED, ApprovalRequest.model_validate(published))
        timeout = ctx.sleep(timedelta(seconds=request.timeout_s), name="Review timeout")
        winner = await restate.select(decision=decision.value(), timeout=timeout)
    except TerminalError:
        # Cancelled (at any await above): take the promise so a later decision is reported, not applied.
        _set_status(ctx, (await _close(ctx, Verdict(decision="cancelled"))).decision)
        raise
    match winner:
        case ["decision", verdict]:
            pass
        case _:
            verdict = await _close(ctx, Verdict(decision="timed_out"))
    _set_status(ctx, verdict.decision)
    return ReviewClosed()


@review.handler(VERDICT_HANDLER)
async def verdict_of(ctx: restate.WorkflowSharedContext) -> Verdict:
    """The closed review's verdict, for the request that asked for it (a private call, never ingress)."""
    taken = await ctx.promise(DECISION, type_hint=Verdict).peek()
    if taken is None:
        raise TerminalError(f"review {ctx.key()!r} is not closed yet", status_code=409)
    return taken


async def _close(ctx: restate.WorkflowContext, closing: Verdict) -> Verdict:
    """Complete the promise with ``closing``; a decision that got there first wins instead."""
    promise = ctx.promise(DECISION, type_hint=Verdict)
    try:
        await promise.resolve(closing)
        return closing
    except TerminalError:
        return await promise.value()


def check_signature(event: ApprovalEvent) -> str:
    """Run as a journaled step, so a replay sees the verdict the key gave at the time."""
    return signature_problem(get_settings().approval_secret, event)


@review.handler()
async def decide(ctx: restate.WorkflowSharedContext, event: ApprovalEvent) -> DecideOutcome:
    approval_id = ctx.key()
    if event.approval_id != approval_id:
        return DecideOutcome(
            applied=False, reason=f"decision names approval {printable(event.approval_id)!r}, not {approval_id!r}"
        )
    request_id = await ctx.get(REQUEST_ID, type_hint=str)
    if request_id is None:
        return DecideOutcome(applied=False, reason=f"unknown approval id {approval_id!r}")
    problem = await ctx.run_typed("Check signature", check_signature, event=event)
    if problem:
        return DecideOutcome(applied=False, reason=f"{problem} (approval {approval_id!r})", request_id=request_id)
    promise = ctx.promise(DECISION, type_hint=Verdict)
    taken = await promise.peek()
    if taken is None:
        try:
            await promise.resolve(Verdict(decision=event.decision, reviewer=event.reviewer, comment=event.comment))
            return DecideOutcome(applied=True, request_id=request_id)
        except TerminalError:
            taken = await promise.peek()  # another completion won the race
    state = taken.decision if taken else "decided"
    return DecideOutcome(applied=False, reason=f"approval {approval_id!r} is already {state}", request_id=request_id)


# Keyed by the record key (the approval id): one approval's decisions are applied in topic order.
approval_intake = restate.VirtualObject(
    APPROVAL_INTAKE.service, ingress_private=True, invocation_retry_policy=invocation_retry_policy()
)


# It waits for the review's decide handler: suspended soon after it goes idle, it holds no invoker slot
# that decide may need while approvals queue (settings.restate_invoker_limit).
@approval_intake.handler(
    APPROVAL_INTAKE.handler, accept="*/*", input_serde=BytesSerde(), inactivity_timeout=waiting_inactivity_timeout()
)
async def ingest(ctx: restate.ObjectContext, raw: bytes) -> DecideOutcome:
    headers = ctx.request().headers
    source, key = record_source(headers), record_key(headers)
    try:
        source, raw = record_origin(headers, raw)
        event = parse_approval_event(raw, key)
    except RejectedRecord as exc:
        await publish_dead_letter(ctx, key, source, str(exc), raw)
        return DecideOutcome(applied=False, reason=str(exc))
    outcome = await ctx.workflow_call(decide, key=event.approval_id, arg=event)
    if not outcome.applied:
        # Unknown, unsigned, duplicate or late: nothing changes; the record is kept as a dead letter for people.
        await publish_dead_letter(ctx, key, source, outcome.reason, raw)
    else:
        log.info("approval applied", approval_id=event.approval_id, decision=event.decision)
    return outcome
