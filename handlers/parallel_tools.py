"""Parallel tools: the LLM asks for several get_weather calls at once; they run as concurrent durable steps.

Question → LLM → get_weather(A) ‖ get_weather(B) ‖ get_weather(C) → LLM → Answer
"""

from __future__ import annotations

from agentpipe.patterns import PATTERNS
from agentpipe.requests import ParallelToolsRequest
from handlers import prompts
from handlers.agent_loop import tool_loop
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun
from handlers.tools import GET_WEATHER


async def weather_agent(run: PatternRun[ParallelToolsRequest], request: ParallelToolsRequest) -> Outcome:
    messages = [
        {"role": "system", "content": prompts.WEATHER_AGENT},
        {"role": "user", "content": request.message},
    ]
    return Outcome(output=await tool_loop(run, messages, [GET_WEATHER]))


PATTERN = Pattern(PATTERNS["parallel-tools"], work=weather_agent, llm_calls=2)
