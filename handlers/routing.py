"""Classification shared by local and remote agent routing: one LLM call picks a specialist via a tool call."""

from __future__ import annotations

from restate import TerminalError

from handlers import prompts
from handlers.runtime import PatternRun
from handlers.tools import ROUTE_TOOLS, BadToolCall, parse_arguments


async def classify(run: PatternRun, question: str) -> str:
    """Returns the route: billing, account or product."""
    messages = [{"role": "system", "content": prompts.ROUTER}, {"role": "user", "content": question}]
    reply = await run.llm("Classify question", messages, tools=ROUTE_TOOLS)
    for call in reply["tool_calls"]:
        try:
            parse_arguments(call, ROUTE_TOOLS)
        except BadToolCall as exc:
            raise TerminalError(f"the router made an invalid choice: {exc}") from None
        return call["name"].removesuffix("_agent")
    raise TerminalError("the router answered without choosing a specialist")
