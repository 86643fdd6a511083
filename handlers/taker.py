"""``RequestIds``' handlers that run what the intakes hand on: claim the id, run the request or park it.

    <pattern>/ingest ──one-way──▶ RequestIds[<pattern>:<id>]/<pattern>: claim
        → first: run it here; its first LLM call needs a permit and nothing is done yet:
              park it (state "parked") and ask the model's budget to admit it; the invocation ends
        → repeat: done · conflict: dead letter
    ProviderBudget … its turn ──▶ RequestIds[<pattern>:<id>]/<pattern>_admitted(permit)
        → run it from the start, its first call with that permit (no permit: its deadline passed)

A backlog put on a topic at once (a replay) waits as state entries of its claims and of the
budget, not as thousands of suspended invocations: nothing holds one of Restate's invoker slots
(an invocation waiting on an awakeable holds one until it suspends) and nothing is replayed. Only
a request that has done nothing worth keeping parks: what it did before its first LLM call are
reads (settings), which it does again when admitted.
"""

from __future__ import annotations

from typing import Any

import restate
from pydantic import BaseModel, ValidationError

from agentpipe.logs import bind_request, get_logger
from agentpipe.messages import AgentRequest, Source, describe_validation_error
from handlers.budgeted_calls import Parked
from handlers.claim_keys import FIRST, PARKED, REQUEST_IDS, admitted_handler, taker_handler
from handlers.intake import HandedRequest, IntakeOutcome, run_claimed
from handlers.llm import FlowSettings
from handlers.pattern import Pattern
from handlers.provider_budget import AdmitTarget, Admitted, acquire
from handlers.records import printable
from handlers.request_ids import CLAIM_RETENTION, FORGET_HANDLER, Claim, Claimed, take_claim
from handlers.runtime import publish_dead_letter, request_flow

log = get_logger(__name__)


class ParkedRequest(BaseModel):
    """A claim's parked request: what the ingest handed on, and how its first call was held back."""

    handed: HandedRequest
    flow: FlowSettings
    first_wait_at: float


async def read_back(
    ctx: restate.ObjectContext, pattern: Pattern[Any], handed: HandedRequest
) -> AgentRequest | IntakeOutcome:
    """The handed request as its pattern's model, or the dead letter it became because it does not read back.

    The ingest validated it already; a model that reads its own output differently is a bug, and a
    retry would meet it again: the record becomes a dead letter, its id stays unclaimed.
    """
    try:
        return pattern.request.model_validate(handed.request)
    except ValidationError as exc:
        error = f"request cannot be read back after validation: {printable(describe_validation_error(exc), 500)}"
        try:
            source: Source | None = Source.model_validate(handed.request.get("source"))
        except ValidationError:
            source = None
        letter = await publish_dead_letter(ctx, handed.record_key, source, error, handed.record)
        return IntakeOutcome(status="dead-lettered", error=letter.error)


def park(
    ctx: restate.ObjectContext, pattern: Pattern[Any], request: AgentRequest, handed: HandedRequest, parked: Parked
) -> IntakeOutcome:
    """Keep the request with its claim and ask its model's budget to start it when its turn comes."""
    assert request.request_id is not None
    ctx.set(PARKED, ParkedRequest(handed=handed, flow=parked.flow, first_wait_at=parked.first_wait_at))
    admit = AdmitTarget(service=REQUEST_IDS, handler=admitted_handler(pattern.name), key=ctx.key())
    ctx.object_send(acquire, parked.flow.budget_key, parked.ask.model_copy(update={"admit": admit}))
    log.info("request parked until its model's budget admits it", queue=parked.ask.queue)
    return IntakeOutcome(status="parked", request_id=request.request_id)


def add_taker(claims: restate.VirtualObject, pattern: Pattern[Any]) -> None:
    """``RequestIds/<pattern>`` and ``RequestIds/<pattern>_admitted``."""

    async def take(ctx: restate.ObjectContext, handed: HandedRequest) -> IntakeOutcome:
        """Claim the request id and, the first time, run the request under it (or park it)."""
        request = await read_back(ctx, pattern, handed)
        if isinstance(request, IntakeOutcome):
            return request
        assert request.request_id is not None
        bind_request(ctx.request().id, request.request_id, pattern.name)
        claim = Claim(fingerprint=handed.fingerprint, source=request.source, invocation_id=ctx.request().id)
        claimed = await take_claim(ctx, FIRST, claim)
        if claimed.outcome == "first":
            ctx.generic_send(REQUEST_IDS, FORGET_HANDLER, b"", key=ctx.key(), send_delay=CLAIM_RETENTION)
        flow = request_flow(request, pattern.llm_calls)
        flow.parkable = True
        try:
            return await run_claimed(ctx, pattern, request, claimed, handed.record_key, handed.record, flow)
        except Parked as parked:
            return park(ctx, pattern, request, handed, parked)

    async def admitted(ctx: restate.ObjectContext, admission: Admitted) -> IntakeOutcome:
        """The budget's turn came for the parked request: run it, its first call with the permit."""
        parked = await ctx.get(PARKED, type_hint=ParkedRequest)
        if parked is None:
            return IntakeOutcome(status="duplicate")  # nothing parked here (an admission delivered twice)
        ctx.clear(PARKED)
        request = await read_back(ctx, pattern, parked.handed)
        if isinstance(request, IntakeOutcome):
            return request
        assert request.request_id is not None
        bind_request(ctx.request().id, request.request_id, pattern.name)
        # The claim names the invocation that runs the request now, for `agentpipe status` and `cancel`.
        claim = await ctx.get(FIRST, type_hint=Claim)
        if claim is not None:
            ctx.set(FIRST, claim.model_copy(update={"invocation_id": ctx.request().id}))
        flow = request_flow(request, pattern.llm_calls)
        flow.held, flow.first_wait_at = parked.flow, parked.first_wait_at
        flow.admission, flow.admission_expired = admission.permit, admission.permit is None
        first = Claimed(outcome="first")
        return await run_claimed(ctx, pattern, request, first, parked.handed.record_key, parked.handed.record, flow)

    idle = pattern.idle_timeout()
    claims.handler(taker_handler(pattern.name), inactivity_timeout=idle)(take)
    claims.handler(admitted_handler(pattern.name), inactivity_timeout=idle)(admitted)
