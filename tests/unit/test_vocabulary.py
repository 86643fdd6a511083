"""The handlers and the offline model speak the same words: prompts carry their markers, tools their names."""

from __future__ import annotations

import pytest

from agentpipe import vocabulary as v
from handlers import prompts, tools
from offline_model import rules

# Each system prompt, the marker it must carry, and the offline model rule that answers it.
PROMPTS = [
    (prompts.EXTRACT_METRICS, v.EXTRACT_MARKER, "chaining.extract"),
    (prompts.SORT_METRICS, v.SORT_MARKER, "chaining.sort"),
    (prompts.FORMAT_TABLE, v.FORMAT_MARKER, "chaining.format"),
    (prompts.PARALLEL_ANALYSES["sentiment"], v.SENTIMENT_MARKER, "parallel_agents.sentiment"),
    (prompts.PARALLEL_ANALYSES["key_points"], v.KEY_POINTS_MARKER, "parallel_agents.key_points"),
    (prompts.PARALLEL_ANALYSES["summary"], v.SUMMARY_MARKER, "parallel_agents.summary"),
    (prompts.WORKER, v.WORKER_MARKER, "orchestrator.worker"),
    (prompts.GENERATOR, v.GENERATOR_MARKER, "evaluator_optimizer.generate"),
    (prompts.EVALUATOR, v.EVALUATOR_MARKER, "evaluator_optimizer."),
    (prompts.MODERATOR, v.MODERATOR_MARKER, "moderation."),
    (prompts.CHAT_ASSISTANT, v.CHAT_MARKER, "chat"),
    *[(prompts.SPECIALISTS[route], v.specialist_marker(route), f"routing.{route}") for route in v.ROUTES],
]


@pytest.mark.parametrize(("prompt", "marker", "rule"), PROMPTS, ids=[p[2] for p in PROMPTS])
def test_each_prompt_carries_its_marker_and_the_offline_model_recognises_it(
    prompt: str, marker: str, rule: str
) -> None:
    assert marker in prompt
    body = {"messages": [{"role": "system", "content": prompt}, {"role": "user", "content": "Revenue: 10%"}]}
    assert rules.reply(body).rule.startswith(rule)


def test_prompts_that_pick_tools_name_the_tools_they_are_offered() -> None:
    assert v.SUPPORT_MARKER in prompts.SUPPORT_AGENT
    assert v.WEATHER_MARKER in prompts.WEATHER_AGENT and v.GET_WEATHER in prompts.WEATHER_AGENT
    assert v.ROUTER_MARKER in prompts.ROUTER
    assert all(v.route_tool(route) in prompts.ROUTER for route in v.ROUTES)
    assert v.ORCHESTRATOR_MARKER in prompts.ORCHESTRATOR
    assert v.GET_HUMAN_REVIEW in prompts.MODERATOR


def test_every_tool_is_named_from_the_vocabulary() -> None:
    offered = [*tools.SUPPORT_TOOLS, tools.GET_WEATHER, *tools.ROUTE_TOOLS, tools.GET_HUMAN_REVIEW]
    names = {tool["function"]["name"] for tool in offered}
    assert names == {
        v.FETCH_SERVICE_STATUS,
        v.CREATE_SUPPORT_TICKET,
        v.QUERY_USER_DATABASE,
        v.GET_WEATHER,
        v.GET_HUMAN_REVIEW,
        *(v.route_tool(route) for route in v.ROUTES),
    }
    assert set(tools.TOOL_IMPLEMENTATIONS) == {
        v.FETCH_SERVICE_STATUS,
        v.CREATE_SUPPORT_TICKET,
        v.QUERY_USER_DATABASE,
        v.GET_WEATHER,
    }
    assert set(rules.ROUTE_TOOLS) == {v.route_tool(route) for route in v.ROUTES}
