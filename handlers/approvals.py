"""Approvals as events: human decisions on agent.approvals resolve the waiting durable promise.

    agent.approvals → ApprovalIntake (verify HMAC) → ApprovalGate[approval_id].decide → resolve awakeable

ApprovalGate is a Virtual Object keyed by approval id, so decisions on one
approval are applied one at a time: the first valid decision wins, and an
unknown, duplicate or late decision changes nothing and is reported as a dead letter.
"""

from __future__ import annotations

import json

import restate
from pydantic import BaseModel, ValidationError
from restate.serde import BytesSerde

from agentpipe.logs import get_logger
from agentpipe.messages import ApprovalEvent, describe_validation_error, signature_is_valid
from agentpipe.settings import get_settings
from handlers.intake import record_key, record_source
from handlers.runtime import publish_dead_letter
from subscriptions.topics import APPROVAL_INTAKE

log = get_logger(__name__)


class PendingApproval(BaseModel):
    awakeable_id: str
    request_id: str


class GateState(BaseModel):
    status: str  # pending | approved | rejected | timed_out
    awakeable_id: str
    request_id: str
    reviewer: str | None = None


approval_gate = restate.VirtualObject("ApprovalGate")


@approval_gate.handler("open")
async def open_gate(ctx: restate.ObjectContext, pending: PendingApproval) -> None:
    ctx.set("gate", GateState(status="pending", **pending.model_dump()).model_dump())


@approval_gate.handler()
async def decide(ctx: restate.ObjectContext, event: ApprovalEvent) -> dict:
    raw = await ctx.get("gate", type_hint=dict)
    if raw is None:
        return {"applied": False, "reason": f"unknown approval id {ctx.key()!r}"}
    gate = GateState.model_validate(raw)
    if gate.status != "pending":
        return {"applied": False, "reason": f"approval {ctx.key()!r} is already {gate.status}"}
    gate.status, gate.reviewer = event.decision, event.reviewer
    ctx.set("gate", gate.model_dump())
    ctx.resolve_awakeable(
        gate.awakeable_id, {"decision": event.decision, "reviewer": event.reviewer, "comment": event.comment}
    )
    return {"applied": True, "request_id": gate.request_id}


@approval_gate.handler()
async def expire(ctx: restate.ObjectContext) -> bool:
    """Called by the waiting handler when its review timeout fires; False if a decision won the race."""
    return await _close(ctx, "timed_out")


@approval_gate.handler()
async def cancel(ctx: restate.ObjectContext) -> bool:
    """Called when the waiting moderation is cancelled, so a later decision is reported, not applied."""
    return await _close(ctx, "cancelled")


async def _close(ctx: restate.ObjectContext, status: str) -> bool:
    raw = await ctx.get("gate", type_hint=dict)
    if raw is None or raw["status"] != "pending":
        return False
    ctx.set("gate", {**raw, "status": status})
    return True


@approval_gate.handler(kind="shared")
async def status(ctx: restate.ObjectSharedContext) -> dict | None:
    return await ctx.get("gate", type_hint=dict)


def parse_approval_event(raw: bytes) -> ApprovalEvent:
    limit = get_settings().max_record_bytes
    if len(raw) > limit:
        raise ValueError(f"approval event is {len(raw)} bytes, over the limit of {limit} bytes")
    try:
        return ApprovalEvent.model_validate(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"approval event is not valid JSON: {exc}") from None
    except ValidationError as exc:
        raise ValueError(f"approval event does not match the schema: {describe_validation_error(exc)}") from None


approval_intake = restate.Service(APPROVAL_INTAKE[0])


@approval_intake.handler(APPROVAL_INTAKE[1], accept="*/*", input_serde=BytesSerde())
async def ingest(ctx: restate.Context, raw: bytes) -> dict:
    headers = ctx.request().headers
    source, key = record_source(headers), record_key(headers)
    try:
        event = parse_approval_event(raw)
    except ValueError as exc:
        await publish_dead_letter(ctx, key, source, str(exc), raw)
        return {"applied": False, "reason": str(exc)}
    secret = get_settings().approval_secret
    if secret is not None and not signature_is_valid(secret, event):
        reason = "approval event has no signature" if not event.signature else "approval signature is invalid"
        await publish_dead_letter(ctx, key, source, f"{reason} (approval {event.approval_id!r})", raw)
        return {"applied": False, "reason": reason}
    outcome = await ctx.object_call(decide, key=event.approval_id, arg=event)
    if not outcome["applied"]:
        # Unknown, duplicate or late: nothing changes; the record is kept as a dead letter for people to see.
        await publish_dead_letter(ctx, key, source, outcome["reason"], raw)
    else:
        log.info("approval applied", approval_id=event.approval_id, decision=event.decision)
    return outcome
