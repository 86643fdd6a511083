"""``RequestIds``' handlers that run what the intakes hand on: claim the id, run the request or park it.

    <pattern>/ingest ──one-way──▶ RequestIds[<pattern>:<id>]/<pattern>: claim
        → first: run it here; if its first LLM call needs a permit of a limit learned from the provider
          and nothing is done yet: park it (the budget keeps it) and end
        → repeat: done · conflict: dead letter
    <pattern>/ingest ──one-way──▶ ProviderBudget[<provider>/<model>]/acquire (a budget configured for
                                   its model: the request parks before it is claimed)
    ProviderBudget … its turn ──▶ RequestIds[<pattern>:<id>]/<pattern>_admitted(permit, the request)
        → claim (unless claimed already) → run it from the start, its first call with that permit
          (no permit: its deadline passed in the queue; a repeat or a conflict gives the permit back)

A backlog put on a topic at once (a replay) waits as entries of its budget's queue, each holding
its request, not as thousands of suspended invocations: nothing holds one of Restate's invoker
slots (an invocation waiting on an awakeable holds one until it suspends) and nothing is replayed.
Only a request that has done nothing worth keeping parks: what it did before its first LLM call
are reads (settings), which it does again when admitted.
"""

from __future__ import annotations

from typing import Any

import restate
from pydantic import ValidationError

from agentpipe.claim_keys import FIRST, admitted_handler, taker_handler
from agentpipe.logs import bind_request, get_logger
from agentpipe.messages import AgentRequest, Source, describe_validation_error
from agentpipe.records import printable
from handlers.budgeted_calls import CallFlow, Parked
from handlers.intake import HandedRequest, IntakeOutcome, admit_target, run_claimed
from handlers.pattern import Pattern
from handlers.provider_budget import Admitted, Parking, Report, acquire, report
from handlers.request_ids import Claim, Claimed
from handlers.request_ids import claim as claim_here
from handlers.runtime import publish_dead_letter, request_flow

log = get_logger(__name__)


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


async def claim(ctx: restate.ObjectContext, handed: HandedRequest, request: AgentRequest) -> Claimed:
    """Claim the request id for this body (the first time: forgotten after the retention)."""
    entry = Claim(fingerprint=handed.fingerprint, source=request.source, invocation_id=ctx.request().id)
    return await claim_here(ctx, entry)


def park(ctx: restate.ObjectContext, pattern: Pattern[Any], handed: HandedRequest, parked: Parked) -> IntakeOutcome:
    """Hand the claimed request to its model's budget, which starts it again when its turn comes."""
    parking = Parking(
        target=admit_target(pattern, ctx.key()), request=handed.model_dump(mode="json"), flow=parked.flow, claimed=True
    )
    ctx.object_send(acquire, parked.flow.budget_key, parked.ask.model_copy(update={"parking": parking}))
    log.info("request parked until its model's budget admits it", queue=parked.ask.queue)
    return IntakeOutcome(status="parked", request_id=parked.ask.request_id)


def add_taker(claims: restate.VirtualObject, pattern: Pattern[Any]) -> None:
    """``RequestIds/<pattern>`` and ``RequestIds/<pattern>_admitted``."""

    async def take(ctx: restate.ObjectContext, handed: HandedRequest) -> IntakeOutcome:
        """Claim the request id and, the first time, run the request under it (or park it)."""
        request = await read_back(ctx, pattern, handed)
        if isinstance(request, IntakeOutcome):
            return request
        assert request.request_id is not None
        bind_request(ctx.request().id, request.request_id, pattern.name)
        claimed = await claim(ctx, handed, request)
        flow = request_flow(request, pattern.llm_calls)
        flow.parkable = True
        try:
            return await run_claimed(ctx, pattern, request, claimed, handed.record_key, handed.record, flow)
        except Parked as parked:
            return park(ctx, pattern, handed, parked)

    async def admitted(ctx: restate.ObjectContext, admission: Admitted) -> IntakeOutcome:
        """The budget's turn came for a parked request: claim it (if not yet), run it with the permit."""
        handed = HandedRequest.model_validate(admission.parking.request)
        request = await read_back(ctx, pattern, handed)
        if isinstance(request, IntakeOutcome):
            return request
        assert request.request_id is not None
        bind_request(ctx.request().id, request.request_id, pattern.name)
        flow = request_flow(request, pattern.llm_calls)
        flow.held, flow.first_wait_at = admission.parking.flow, admission.first_wait_at
        flow.admission, flow.admission_expired = admission.permit, admission.permit is None
        if admission.parking.claimed:
            # The claim names the invocation that runs the request now, for `agentpipe status` and `cancel`.
            entry = await ctx.get(FIRST, type_hint=Claim)
            if entry is not None:
                ctx.set(FIRST, entry.model_copy(update={"invocation_id": ctx.request().id}))
            claimed = Claimed(outcome="first")
        else:
            claimed = await claim(ctx, handed, request)
            if claimed.outcome != "first":
                give_back(ctx, flow)  # a repeat or a conflict makes no call
        return await run_claimed(ctx, pattern, request, claimed, handed.record_key, handed.record, flow)

    idle = pattern.idle_timeout()
    claims.handler(taker_handler(pattern.name), inactivity_timeout=idle)(take)
    claims.handler(admitted_handler(pattern.name), inactivity_timeout=idle)(admitted)


def give_back(ctx: restate.Context, flow: CallFlow) -> None:
    """Return an admission's permit unused."""
    permit, held = flow.admission, flow.held
    if permit is None or held is None:
        return
    flow.admission = None
    unused = Report(
        lease=permit.lease if flow.leased else None,
        unused_calls=permit.calls,
        tokens_estimated=permit.tokens,
        limits=held.limits,
    )
    ctx.object_send(report, held.budget_key, unused)
