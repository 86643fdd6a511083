"""The tools the agents may call (handlers/tools.py): how a model's tool call is parsed against the
tools it was offered, and the deterministic stand-in implementations."""

from __future__ import annotations

import asyncio
import inspect
import json
import re

import pytest

from handlers import tools
from handlers.llm import ToolCall
from handlers.tools import (
    GET_HUMAN_REVIEW,
    GET_WEATHER,
    ROUTE_TOOLS,
    SUPPORT_TOOLS,
    TOOL_IMPLEMENTATIONS,
    BadToolCall,
    parse_arguments,
)

EVERY_TOOL = [*SUPPORT_TOOLS, GET_WEATHER, *ROUTE_TOOLS, GET_HUMAN_REVIEW]


def name_of(tool: dict) -> str:
    return tool["function"]["name"]


def required_of(tool: dict) -> list[str]:
    return tool["function"]["parameters"]["required"]


def call(tool: dict | str, arguments: str | None) -> ToolCall:
    """A tool call as the handlers read it from a completion: name and the raw arguments string."""
    return ToolCall(id="call-1", name=tool if isinstance(tool, str) else name_of(tool), arguments=arguments or "")


def refused(tool_call: dict, offered: list[dict]) -> str:
    with pytest.raises(BadToolCall) as caught:
        parse_arguments(tool_call, offered)
    return str(caught.value)


# -- the schemas the model is offered -------------------------------------------------


@pytest.mark.parametrize("tool", EVERY_TOOL, ids=name_of)
def test_every_schema_requires_all_its_string_properties_and_nothing_else(tool):
    parameters = tool["function"]["parameters"]
    assert tool["type"] == "function" and tool["function"]["description"]
    assert parameters["type"] == "object" and parameters["additionalProperties"] is False
    assert parameters["required"] == list(parameters["properties"])
    assert all(spec == {"type": "string"} for spec in parameters["properties"].values())


def test_tool_names_are_unique():
    names = [name_of(tool) for tool in EVERY_TOOL]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("tool", [*SUPPORT_TOOLS, GET_WEATHER], ids=name_of)
def test_each_tool_the_agent_loop_runs_has_an_implementation_taking_its_arguments(tool):
    implementation = TOOL_IMPLEMENTATIONS[name_of(tool)]
    assert list(inspect.signature(implementation).parameters) == required_of(tool)


# -- parse_arguments ----------------------------------------------------------------------


@pytest.mark.parametrize("tool", EVERY_TOOL, ids=name_of)
def test_well_formed_arguments_parse(tool):
    arguments = {name: f"value of {name}" for name in required_of(tool)}
    assert parse_arguments(call(tool, json.dumps(arguments)), EVERY_TOOL) == arguments


@pytest.mark.parametrize("raw", [None, "", "{}"])
def test_a_tool_without_parameters_takes_no_arguments_or_an_empty_object(raw):
    assert parse_arguments(call(tools.FETCH_SERVICE_STATUS, raw), SUPPORT_TOOLS) == {}


def test_arguments_the_schema_does_not_name_are_dropped():
    raw = json.dumps({"location": "Berlin", "units": "kelvin", "__class__": "x"})
    assert parse_arguments(call(GET_WEATHER, raw), [GET_WEATHER]) == {"location": "Berlin"}


def test_a_tool_that_was_not_offered_is_refused_even_if_it_exists():
    assert (
        refused(call("no_such_tool", "{}"), SUPPORT_TOOLS)
        == "the model called 'no_such_tool', which it was not offered"
    )
    # Implemented, but this agent was not offered it.
    assert "which it was not offered" in refused(call(GET_WEATHER, '{"location": "Oslo"}'), SUPPORT_TOOLS)
    assert "which it was not offered" in refused(call(name_of(GET_HUMAN_REVIEW), '{"reason": "x"}'), ROUTE_TOOLS)


@pytest.mark.parametrize("raw", ["{location: Berlin}", '{"location": "Berlin"', "Berlin", "{'location': 'Berlin'}"])
def test_arguments_that_are_not_json_are_refused(raw):
    assert refused(call(GET_WEATHER, raw), [GET_WEATHER]).startswith("arguments of get_weather are not valid JSON: ")


@pytest.mark.parametrize("raw", ['["Berlin"]', '"Berlin"', "42", "null", "true"])
def test_arguments_that_are_not_an_object_are_refused(raw):
    assert refused(call(GET_WEATHER, raw), [GET_WEATHER]) == "arguments of get_weather must be a JSON object"


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"location": None},
        {"location": 42},
        {"location": ["Berlin"]},
        {"location": {"city": "Berlin"}},
        {"city": "Berlin"},
    ],
)
def test_missing_or_non_string_arguments_are_refused(arguments):
    reason = refused(call(GET_WEATHER, json.dumps(arguments)), [GET_WEATHER])
    assert reason == "get_weather is missing string arguments: location"


def test_every_missing_argument_is_named():
    reason = refused(call(tools.CREATE_SUPPORT_TICKET, '{"message": 1}'), SUPPORT_TOOLS)
    assert reason == "create_support_ticket is missing string arguments: user_id, message"


def test_an_empty_string_is_a_string():
    assert parse_arguments(call(GET_WEATHER, '{"location": ""}'), [GET_WEATHER]) == {"location": ""}


# -- the implementations: deterministic stand-ins ----------------------------------------------


def test_service_status_reports_the_degraded_api():
    status = tools.fetch_service_status()
    assert status == tools.fetch_service_status()
    assert status["api"] == "degraded" and {status["dashboard"], status["billing"]} == {"operational"}


def test_user_lookup_is_stable_per_user():
    first = tools.query_user_database("user-42")
    assert first == tools.query_user_database("user-42")
    assert first["user_id"] == "user-42" and first["plan"] == "pro" and first["account_status"] == "active"
    counts = {tools.query_user_database(f"user-{n}")["api_errors_last_hour"] for n in range(50)}
    assert all(40 <= count < 100 for count in counts) and len(counts) > 10


def test_a_ticket_id_follows_from_user_and_message():
    ticket = tools.create_support_ticket("user-42", "API calls fail")
    assert ticket == tools.create_support_ticket("user-42", "API calls fail")
    assert re.fullmatch(r"TCK-\d{5}", ticket["ticket_id"]) and ticket["status"] == "open"
    assert ticket["ticket_id"] != tools.create_support_ticket("user-42", "another problem")["ticket_id"]
    assert tools.create_support_ticket("u", "m" * 500)["summary"] == "m" * 200


def test_weather_is_stable_per_location(monkeypatch):
    monkeypatch.setattr(tools, "WEATHER_API_LATENCY_S", 0)

    async def three() -> list[dict]:
        return await asyncio.gather(*(tools.get_weather(city) for city in ("Berlin", "Tokyo", "Berlin")))

    berlin, tokyo, again = asyncio.run(three())
    assert berlin == again and berlin["location"] == "Berlin" and tokyo["location"] == "Tokyo"
    for report in (berlin, tokyo):
        assert -5 <= report["temperature_c"] < 31
        assert report["conditions"] in {"sunny", "cloudy", "rainy", "windy", "snowy"}
