"""Tool routing: an agent loop over support tools until the LLM answers without tool calls.

Question → LLM ⇄ {query_user_database, fetch_service_status, create_support_ticket} → Answer
"""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import MESSAGE_DESCRIPTION, AgentRequest
from handlers import prompts
from handlers.agent_loop import tool_loop
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun
from handlers.tools import SUPPORT_TOOLS


class ToolRoutingRequest(AgentRequest):
    """A tool-routing request: a user's support question."""

    message: str = Field(default=prompts.EXAMPLE_SUPPORT_QUESTION, description=MESSAGE_DESCRIPTION)
    user_id: str = Field(
        default="user-42",
        min_length=1,
        max_length=128,
        description="The user the support agent helps and opens a ticket for.",
    )


async def support_agent(run: PatternRun[ToolRoutingRequest], request: ToolRoutingRequest) -> Outcome:
    messages = [
        {"role": "system", "content": prompts.SUPPORT_AGENT},
        {"role": "user", "content": f"User ID: {request.user_id}\n\n{request.message}"},
    ]
    return Outcome(output=await tool_loop(run, messages, SUPPORT_TOOLS))


PATTERN = Pattern(
    name="tool-routing",
    service="ToolRouterService",
    handler="route",
    request=ToolRoutingRequest,
    work=support_agent,
    llm_calls=2,
)
