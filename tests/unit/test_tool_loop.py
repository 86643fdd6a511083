"""The agent tool loop (handlers/agent_loop.py) with a fake run: no Restate, no model server.

The fake run answers LLM steps from a script and runs tool steps directly, recording
every step name, so the loop's decisions (what runs, what goes back to the model,
when it stops) are checked one by one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from restate import TerminalError

from agentpipe import vocabulary as v
from handlers.agent_loop import tool_loop
from handlers.llm import LlmReply, Message, ToolCall, ToolSpec
from handlers.runtime import Bounds
from handlers.tools import GET_WEATHER, SUPPORT_TOOLS, get_weather, query_user_database


class FakeRun:
    def __init__(self, replies: list[LlmReply], max_rounds: int = 4, max_calls: int = 3) -> None:
        self.replies = list(replies)
        self.steps: list[str] = []
        self.seen: list[list[Message]] = []  # the messages each LLM step was given
        self._bounds = Bounds(
            tool_loop_max_rounds=max_rounds,
            tool_calls_max_per_round=max_calls,
            evaluator_max_rounds=3,
            orchestrator_max_tasks=5,
            chat_history_max=20,
            chat_history_max_bytes=64_000,
            review_timeout_s=60,
            llm_model="offline",
            allowed_models=[],
        )

    async def bounds(self) -> Bounds:
        return self._bounds

    async def llm(
        self,
        step: str,
        messages: list[Message],
        *,
        tools: list[ToolSpec] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> LlmReply:
        self.steps.append(step)
        self.seen.append([dict(m) for m in messages])
        return self.replies.pop(0)

    def tool_future(self, step: str, fn: Callable[..., Any], **kwargs: Any) -> Awaitable[Any]:
        self.steps.append(step)

        async def call() -> Any:
            result = fn(**kwargs)
            return await result if asyncio.iscoroutine(result) else result

        return call()

    async def gather(self, *futures: Awaitable[Any]) -> list[Any]:
        return list(await asyncio.gather(*futures))


def call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=json.dumps(arguments))


def tool_results(messages: list[Message]) -> dict[str, dict[str, Any]]:
    return {m["tool_call_id"]: json.loads(m["content"]) for m in messages if m["role"] == "tool"}


def run_loop(run: FakeRun, tools: list[ToolSpec]) -> str:
    return asyncio.run(tool_loop(run, [{"role": "user", "content": "question"}], tools))  # type: ignore[arg-type]


def test_answer_without_tool_calls_ends_the_loop_at_once() -> None:
    run = FakeRun([LlmReply(content="no tools needed")])
    assert run_loop(run, SUPPORT_TOOLS) == "no tools needed"
    assert run.steps == ["Agent round 1"]


def test_tool_calls_run_as_named_steps_and_their_results_go_back_to_the_model() -> None:
    run = FakeRun(
        [
            LlmReply(
                tool_calls=[call("a", v.GET_WEATHER, location="Berlin"), call("b", v.GET_WEATHER, location="Oslo")]
            ),
            LlmReply(content="Berlin and Oslo: done"),
        ]
    )
    assert run_loop(run, [GET_WEATHER]) == "Berlin and Oslo: done"
    assert run.steps == ["Agent round 1", "get_weather(Berlin)", "get_weather(Oslo)", "Agent round 2"]
    second = run.seen[1]
    assert second[1]["role"] == "assistant" and [c["id"] for c in second[1]["tool_calls"]] == ["a", "b"]
    assert tool_results(second) == {"a": asyncio.run(get_weather("Berlin")), "b": asyncio.run(get_weather("Oslo"))}


def test_a_tool_not_offered_or_bad_arguments_go_back_as_errors_and_run_nothing() -> None:
    run = FakeRun(
        [
            LlmReply(
                tool_calls=[
                    call("x", "delete_everything"),
                    ToolCall(id="y", name=v.QUERY_USER_DATABASE, arguments="{not json"),
                    call("z", v.QUERY_USER_DATABASE, user_id=42),
                    call("ok", v.QUERY_USER_DATABASE, user_id="u-1", extra="dropped"),
                ]
            ),
            LlmReply(content="answered"),
        ],
        max_calls=4,
    )
    assert run_loop(run, SUPPORT_TOOLS) == "answered"
    assert run.steps == ["Agent round 1", "query_user_database(u-1)", "Agent round 2"]
    results = tool_results(run.seen[1])
    assert "not offered" in results["x"]["error"]
    assert "not valid JSON" in results["y"]["error"]
    assert "missing string arguments: user_id" in results["z"]["error"]
    assert results["ok"] == query_user_database("u-1")


def test_calls_past_the_per_round_cap_are_refused() -> None:
    calls = [call(f"c{i}", v.GET_WEATHER, location=f"City {i}") for i in range(5)]
    run = FakeRun([LlmReply(tool_calls=calls), LlmReply(content="fine")], max_calls=2)
    run_loop(run, [GET_WEATHER])
    assert [s for s in run.steps if s.startswith("get_weather")] == ["get_weather(City 0)", "get_weather(City 1)"]
    results = tool_results(run.seen[1])
    assert [results[f"c{i}"] == {"error": "at most 2 tool calls per round"} for i in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_the_loop_gives_up_after_the_round_limit() -> None:
    looping = LlmReply(tool_calls=[call("again", v.FETCH_SERVICE_STATUS)])
    run = FakeRun([looping] * 3, max_rounds=3)
    with pytest.raises(TerminalError, match="within 3 tool rounds"):
        run_loop(run, SUPPORT_TOOLS)
    assert [s for s in run.steps if s.startswith("Agent round")] == ["Agent round 1", "Agent round 2", "Agent round 3"]
