"""The LLM step posts its body as built; openai's typed transform would leave it unchanged.

handlers/llm.py skips ``chat.completions.create``'s transform of the parameters (it costs an
eighth of the agent service's CPU). That is only right while the transform is the identity on
what the patterns send: every message shape, every tool list, the orchestrator's response
format. If an openai upgrade starts renaming or reformatting any of it, this fails.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai._utils import maybe_transform
from openai.types.chat import completion_create_params

from handlers.orchestrator import TASK_LIST_FORMAT
from handlers.tools import GET_HUMAN_REVIEW, GET_WEATHER, ROUTE_TOOLS, SUPPORT_TOOLS

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris and in Oslo?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"temperature_c": 12})},
    {"role": "assistant", "content": "12 °C in Paris."},
]

BODIES = {
    "plain": {"model": "offline", "messages": MESSAGES},
    "support tools": {"model": "offline", "messages": MESSAGES, "tools": SUPPORT_TOOLS, "temperature": 0.2},
    "weather": {"model": "offline", "messages": MESSAGES, "tools": [GET_WEATHER]},
    "routes": {"model": "offline", "messages": MESSAGES[:2], "tools": ROUTE_TOOLS},
    "review": {"model": "offline", "messages": MESSAGES[:2], "tools": [GET_HUMAN_REVIEW]},
    "task list": {"model": "offline", "messages": MESSAGES[:2], "response_format": TASK_LIST_FORMAT},
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_openai_transform_leaves_our_bodies_unchanged(name: str) -> None:
    body = BODIES[name]
    params = completion_create_params.CompletionCreateParamsNonStreaming
    assert maybe_transform(body, params) == body
