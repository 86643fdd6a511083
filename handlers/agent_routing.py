"""Multi-agent routing: a classifier picks billing, account or product; that specialist answers.

    Question → Classify (tool call) → Specialist LLM → Answer (route named in the result)
"""

from __future__ import annotations

import restate

from handlers.policies import invocation_retry_policy
from handlers import prompts
from handlers.requests import AgentRoutingRequest
from handlers.routing import classify
from handlers.runtime import Outcome, PatternRun, run_pattern

agent_router = restate.Service("AgentRouterService", invocation_retry_policy=invocation_retry_policy())


async def route_to_specialist(run: PatternRun, request: AgentRoutingRequest) -> Outcome:
    route = await classify(run, request.message)
    answer = await run.ask(f"{route.capitalize()} specialist", prompts.SPECIALISTS[route], request.message)
    return Outcome(output=answer, route=route)


@agent_router.handler()
async def route(ctx: restate.Context, request: AgentRoutingRequest) -> dict:
    return await run_pattern(ctx, "agent-routing", request, route_to_specialist)
