"""Remote agent routing: like agent routing, but the specialists are services of another deployment.

    Question → Classify → durable RPC to BillingAgent | AccountAgent | ProductAgent (port 9081) → Answer

The RPC goes through Restate, so it survives restarts of either deployment.
"""

from __future__ import annotations

import json

import restate

from handlers.policies import invocation_retry_policy
from handlers.requests import AgentRoutingRequest
from handlers.routing import classify
from handlers.runtime import Outcome, PatternRun, run_pattern

remote_agent_router = restate.Service("RemoteAgentRouterService", invocation_retry_policy=invocation_retry_policy())


async def call_remote_specialist(run: PatternRun, request: AgentRoutingRequest) -> Outcome:
    route = await classify(run, request.message)
    question = {"request_id": run.request_id, "question": request.message}
    # Called by name: the specialists live in the other deployment, not in this process.
    answer = await run.ctx.generic_call(f"{route.capitalize()}Agent", "run", json.dumps(question).encode())
    return Outcome(output=json.loads(answer), route=route)


@remote_agent_router.handler()
async def route(ctx: restate.Context, request: AgentRoutingRequest) -> dict:
    return await run_pattern(ctx, "remote-agent-routing", request, call_remote_specialist)
