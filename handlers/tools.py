"""Tools the agents may call: their JSON schemas (what the LLM is offered) and implementations.

Each tool runs as its own journaled step (PatternRun.tool_future). The
implementations are deterministic stand-ins for real back ends (a status page,
a ticket system, a user database, a weather API), so a replay or a test sees
the same answers; swap them for real clients where you deploy this.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

from agentpipe import vocabulary as v
from handlers.llm import ToolCall, ToolSpec


def function_tool(name: str, description: str, properties: dict[str, Any] | None = None) -> ToolSpec:
    properties = properties or {}
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }


STRING = {"type": "string"}

# Tool routing (each description belongs to its own tool: a defect of the public example).
FETCH_SERVICE_STATUS = function_tool(
    v.FETCH_SERVICE_STATUS, "Current status of the API, dashboard and billing services."
)
CREATE_SUPPORT_TICKET = function_tool(
    v.CREATE_SUPPORT_TICKET,
    "Open a support ticket for the user with a description of the problem.",
    {"user_id": STRING, "message": STRING},
)
QUERY_USER_DATABASE = function_tool(
    v.QUERY_USER_DATABASE, "Look up the user's plan, account status and API usage.", {"user_id": STRING}
)
SUPPORT_TOOLS = [FETCH_SERVICE_STATUS, CREATE_SUPPORT_TICKET, QUERY_USER_DATABASE]

# Parallel tools
GET_WEATHER = function_tool(v.GET_WEATHER, "Current weather for one location.", {"location": STRING})

# Routing: one tool per specialist; calling it is the classification.
ROUTE_TOOLS = [
    function_tool(v.route_tool(route), f"Hand the question to the {route} specialist.", {"question": STRING})
    for route in v.ROUTES
]

# Human in the loop
GET_HUMAN_REVIEW = function_tool(
    v.GET_HUMAN_REVIEW, "Ask a human moderator to decide when you are unsure.", {"reason": STRING}
)


WEATHER_API_LATENCY_S = 0.1


def _stable_int(text: str, modulo: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % modulo


def fetch_service_status() -> dict[str, str]:
    return {
        "api": "degraded",
        "dashboard": "operational",
        "billing": "operational",
        "incident": "elevated API error rates since 06:00 UTC",
    }


def query_user_database(user_id: str) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "plan": "pro",
        "account_status": "active",
        "api_errors_last_hour": 40 + _stable_int(user_id, 60),
    }


def create_support_ticket(user_id: str, message: str) -> dict[str, str]:
    ticket = f"TCK-{_stable_int(user_id + message, 100000):05d}"
    return {"ticket_id": ticket, "user_id": user_id, "status": "open", "summary": message[:200]}


async def get_weather(location: str) -> dict[str, Any]:
    await asyncio.sleep(WEATHER_API_LATENCY_S)  # stands in for the network call of a real weather API
    conditions = ["sunny", "cloudy", "rainy", "windy", "snowy"]
    return {
        "location": location,
        "temperature_c": -5 + _stable_int(location, 36),
        "conditions": conditions[_stable_int(location + "c", len(conditions))],
    }


TOOL_IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    v.FETCH_SERVICE_STATUS: fetch_service_status,
    v.QUERY_USER_DATABASE: query_user_database,
    v.CREATE_SUPPORT_TICKET: create_support_ticket,
    v.GET_WEATHER: get_weather,
}


class BadToolCall(Exception):
    """The LLM asked for a tool it was not offered, or sent arguments that do not parse."""


def parse_arguments(call: ToolCall, offered: list[ToolSpec]) -> dict[str, str]:
    """The call's arguments, exactly the offered tool's (string) parameters; raises BadToolCall."""
    names = {tool["function"]["name"] for tool in offered}
    if call.name not in names:
        raise BadToolCall(f"the model called {call.name!r}, which it was not offered")
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        raise BadToolCall(f"arguments of {call.name} are not valid JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise BadToolCall(f"arguments of {call.name} must be a JSON object")
    required = next(t for t in offered if t["function"]["name"] == call.name)["function"]["parameters"]["required"]
    missing = [name for name in required if not isinstance(arguments.get(name), str)]
    if missing:
        raise BadToolCall(f"{call.name} is missing string arguments: {', '.join(missing)}")
    return {name: arguments[name] for name in required}
