"""Tool routing: an agent loop over support tools until the LLM answers without tool calls.

    Question → LLM ⇄ {query_user_database, fetch_service_status, create_support_ticket} → Answer
"""

from __future__ import annotations

import restate

from handlers.policies import invocation_retry_policy
from handlers import prompts
from handlers.agent_loop import tool_loop
from handlers.requests import ToolRoutingRequest
from handlers.runtime import Outcome, PatternRun, run_pattern
from handlers.tools import SUPPORT_TOOLS

tool_router = restate.Service("ToolRouterService", invocation_retry_policy=invocation_retry_policy())


async def support_agent(run: PatternRun, request: ToolRoutingRequest) -> Outcome:
    messages = [
        {"role": "system", "content": prompts.SUPPORT_AGENT},
        {"role": "user", "content": f"User ID: {request.user_id}\n\n{request.message}"},
    ]
    return Outcome(output=await tool_loop(run, messages, SUPPORT_TOOLS))


@tool_router.handler()
async def route(ctx: restate.Context, request: ToolRoutingRequest) -> dict:
    return await run_pattern(ctx, "tool-routing", request, support_agent)
