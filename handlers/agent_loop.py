"""The agent tool loop shared by tool routing and parallel tools.

    LLM (with tools) → tool calls as concurrent durable steps → results back to the LLM → … → answer

Bounded by ``tool_loop_max_rounds`` rounds of at most ``tool_calls_max_per_round``
calls each. A tool the LLM was not offered, arguments that do not parse, or a
call past the per-round cap go back to the LLM as an error result instead of
running anything.
"""

from __future__ import annotations

from typing import Any

import restate
from restate import TerminalError

from handlers.llm import Message, ToolSpec
from handlers.runtime import PatternRun, ToolResult, tool_result_message
from handlers.tools import TOOL_IMPLEMENTATIONS, BadToolCall, parse_arguments


def _step_name(name: str, arguments: dict[str, str]) -> str:
    shown = ", ".join(f"{v}" for v in arguments.values())
    return f"{name}({shown[:60]})"


async def tool_loop(run: PatternRun[Any], messages: list[Message], tools: list[ToolSpec]) -> str:
    bounds = await run.bounds()
    max_rounds = bounds.tool_loop_max_rounds
    for round_no in range(1, max_rounds + 1):
        reply = await run.llm(f"Agent round {round_no}", messages, tools=tools)
        calls = reply.tool_calls
        if not calls:
            return reply.text
        messages.append(
            {
                "role": "assistant",
                "content": reply.content,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in calls
                ],
            }
        )
        pending: list[tuple[str, restate.RestateDurableFuture[ToolResult]]] = []
        rejected: dict[str, ToolResult] = {}
        for index, call in enumerate(calls):
            if index >= bounds.tool_calls_max_per_round:
                rejected[call.id] = {"error": f"at most {bounds.tool_calls_max_per_round} tool calls per round"}
                continue
            try:
                arguments = parse_arguments(call, tools)
            except BadToolCall as exc:
                rejected[call.id] = {"error": str(exc)}
                continue
            future = run.tool_future(_step_name(call.name, arguments), TOOL_IMPLEMENTATIONS[call.name], **arguments)
            pending.append((call.id, future))
        done = await run.gather(*(future for _, future in pending))  # the tool steps run concurrently
        results = {call_id: result for (call_id, _), result in zip(pending, done, strict=True)} | rejected
        for call in calls:
            messages.append(tool_result_message(call.id, results[call.id]))
    raise TerminalError(f"the agent did not answer within {max_rounds} tool rounds")
