"""Parallel tools: the LLM asks for several get_weather calls at once; they run as concurrent durable steps.

Question → LLM → get_weather(A) ‖ get_weather(B) ‖ get_weather(C) → LLM → Answer
"""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import MESSAGE_DESCRIPTION, AgentRequest
from handlers import prompts
from handlers.agent_loop import tool_loop
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun
from handlers.tools import GET_WEATHER


class ParallelToolsRequest(AgentRequest):
    """A parallel-tools request: a question about the weather in one or more places."""

    message: str = Field(default=prompts.EXAMPLE_WEATHER_QUESTION, description=MESSAGE_DESCRIPTION)


async def weather_agent(run: PatternRun[ParallelToolsRequest], request: ParallelToolsRequest) -> Outcome:
    messages = [
        {"role": "system", "content": prompts.WEATHER_AGENT},
        {"role": "user", "content": request.message},
    ]
    return Outcome(output=await tool_loop(run, messages, [GET_WEATHER]))


PATTERN = Pattern(
    name="parallel-tools",
    service="ParallelToolAgent",
    handler="run",
    request=ParallelToolsRequest,
    work=weather_agent,
    llm_calls=2,
)
