"""Classification shared by local and remote agent routing: one LLM call picks a specialist via a tool call."""

from __future__ import annotations

from pydantic import BaseModel
from restate import TerminalError

from agentpipe import vocabulary
from agentpipe.flow import Priority
from agentpipe.messages import Usage
from agentpipe.requests import RoutingRequest
from handlers import prompts
from handlers.runtime import PatternRun
from handlers.tools import ROUTE_TOOLS, BadToolCall, parse_arguments


class SpecialistQuestion(BaseModel):
    """What the remote router sends a specialist in the other deployment."""

    request_id: str
    question: str
    model: str | None = None  # the request's choice, so the specialist answers with the same model
    temperature: float | None = None
    # The request's flow control, so the specialist's call waits in the same queue with the same deadline.
    priority: Priority = "interactive"
    deadline_s: float | None = None


class SpecialistAnswer(BaseModel):
    answer: str
    usage: Usage  # the specialist's LLM calls, added to the request's


def specialist_service(route: str) -> str:
    return f"{route.capitalize()}Agent"


async def classify(run: PatternRun[RoutingRequest], question: str) -> str:
    """Returns the route: billing, account or product."""
    messages = [{"role": "system", "content": prompts.ROUTER}, {"role": "user", "content": question}]
    reply = await run.llm("Classify question", messages, tools=ROUTE_TOOLS)
    for call in reply.tool_calls:
        try:
            parse_arguments(call, ROUTE_TOOLS)
        except BadToolCall as exc:
            raise TerminalError(f"the router made an invalid choice: {exc}") from None
        return next(route for route in vocabulary.ROUTES if vocabulary.route_tool(route) == call.name)
    raise TerminalError("the router answered without choosing a specialist")
