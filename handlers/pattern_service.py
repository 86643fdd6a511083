"""The Restate service (or object) that runs a pattern: its typed handler, reached over HTTP, and the
private ``ingest`` handler that Kafka records reach through subscriptions.
"""

from __future__ import annotations

from typing import Any, cast

import restate
from restate.serde import BytesSerde

from agentpipe.messages import AgentResult
from agentpipe.patterns import INGEST_HANDLER
from handlers.http_entry import claim_over_http
from handlers.intake import IntakeOutcome, forget_session_claim, ingest, session_key_of
from handlers.pattern import FORGET_CLAIM_HANDLER, Pattern
from handlers.policies import invocation_retry_policy
from handlers.runtime import request_flow, run_pattern


def pattern_service(pattern: Pattern[Any]) -> restate.Service | restate.VirtualObject:
    """The service of one pattern, as the agent service serves it (handlers/app.py)."""

    async def handle(ctx: restate.Context, request: Any) -> AgentResult:
        await claim_over_http(ctx, pattern, request, FORGET_CLAIM_HANDLER)
        flow = request_flow(request, pattern.llm_calls)
        return await run_pattern(ctx, pattern.name, request, pattern.work, keyed=pattern.keyed, flow=flow)

    # The SDK reads the handler's signature for its input and output types.
    handle.__annotations__ = {
        "ctx": restate.ObjectContext if pattern.keyed else restate.Context,
        "request": pattern.request,
        "return": AgentResult,
    }
    policy = invocation_retry_policy()
    idle = pattern.idle_timeout()
    component: restate.Service | restate.VirtualObject
    if pattern.keyed:
        component = restate.VirtualObject(pattern.service, invocation_retry_policy=policy)
        for reader in pattern.readers:
            component.handler(kind="shared")(reader)
    else:
        component = restate.Service(pattern.service, invocation_retry_policy=policy)
    component.handler(pattern.handler, inactivity_timeout=idle)(handle)

    async def ingest_record(ctx: restate.Context, raw: bytes) -> IntakeOutcome:
        session_key = session_key_of(cast(restate.ObjectContext, ctx)) if pattern.keyed else None
        return await ingest(ctx, raw, pattern, session_key)

    ingest_record.__annotations__ = {
        "ctx": restate.ObjectContext if pattern.keyed else restate.Context,
        "raw": bytes,
        "return": IntakeOutcome,
    }
    # Private: only subscriptions deliver here, never an HTTP caller (it trusts the kafka.* headers).
    # A keyed pattern's ingest runs the request itself (in session order); the others hand it on.
    component.handler(
        INGEST_HANDLER,
        accept="*/*",
        input_serde=BytesSerde(),
        ingress_private=True,
        inactivity_timeout=idle if pattern.keyed else None,  # chat's runs the message
    )(ingest_record)
    if pattern.keyed:
        component.handler(FORGET_CLAIM_HANDLER, ingress_private=True)(forget_session_claim)
    return component
