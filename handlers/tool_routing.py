"""Tool routing: an agent loop over support tools until the LLM answers without tool calls.

Question → LLM ⇄ {query_user_database, fetch_service_status, create_support_ticket} → Answer
"""

from __future__ import annotations

from agentpipe.patterns import PATTERNS
from agentpipe.requests import ToolRoutingRequest
from handlers import prompts
from handlers.agent_loop import tool_loop
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun
from handlers.tools import SUPPORT_TOOLS


async def support_agent(run: PatternRun[ToolRoutingRequest], request: ToolRoutingRequest) -> Outcome:
    messages = [
        {"role": "system", "content": prompts.SUPPORT_AGENT},
        {"role": "user", "content": f"User ID: {request.user_id}\n\n{request.message}"},
    ]
    return Outcome(output=await tool_loop(run, messages, SUPPORT_TOOLS))


PATTERN = Pattern(PATTERNS["tool-routing"], work=support_agent, llm_calls=2)
