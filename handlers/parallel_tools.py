"""Parallel tools: the LLM asks for several get_weather calls at once; they run as concurrent durable steps.

    Question → LLM → get_weather(A) ‖ get_weather(B) ‖ get_weather(C) → LLM → Answer
"""

from __future__ import annotations

import restate

from handlers.policies import invocation_retry_policy
from handlers import prompts
from handlers.agent_loop import tool_loop
from handlers.requests import ParallelToolsRequest
from handlers.runtime import Outcome, PatternRun, run_pattern
from handlers.tools import GET_WEATHER

parallel_tool_agent = restate.Service("ParallelToolAgent", invocation_retry_policy=invocation_retry_policy())


async def weather_agent(run: PatternRun, request: ParallelToolsRequest) -> Outcome:
    messages = [
        {"role": "system", "content": prompts.WEATHER_AGENT},
        {"role": "user", "content": request.message},
    ]
    return Outcome(output=await tool_loop(run, messages, [GET_WEATHER]))


@parallel_tool_agent.handler()
async def run(ctx: restate.Context, request: ParallelToolsRequest) -> dict:
    return await run_pattern(ctx, "parallel-tools", request, weather_agent)
