"""Words the handlers and the offline model share, defined once.

Each system prompt in handlers/prompts.py contains its marker phrase, each tool
in handlers/tools.py is named here, and the offline model (offline_model/rules.py)
recognises a request by these same strings. Change a prompt freely; keep its
marker in it (a unit test checks that every prompt still contains its marker).
"""

from __future__ import annotations

from typing import Final

# Marker phrase of each system prompt.
EXTRACT_MARKER: Final = "Extract only the numerical values"
SORT_MARKER: Final = "Sort all lines in descending order"
FORMAT_MARKER: Final = "markdown table with columns"
SENTIMENT_MARKER: Final = "Analyze the sentiment"
KEY_POINTS_MARKER: Final = "Extract the three key points"
SUMMARY_MARKER: Final = "Summarize the text in one sentence"
WORKER_MARKER: Final = "You are a worker"
GENERATOR_MARKER: Final = "Your goal is to complete the task"
EVALUATOR_MARKER: Final = "Evaluate the solution"
MODERATOR_MARKER: Final = "You are a content moderator"
CHAT_MARKER: Final = "helpful assistant in an ongoing conversation"
SUPPORT_MARKER: Final = "You are a customer support agent"
WEATHER_MARKER: Final = "You are a weather assistant"
ROUTER_MARKER: Final = "You are a router for customer questions"
ORCHESTRATOR_MARKER: Final = "break it down into distinct approaches"


def specialist_marker(route: str) -> str:
    return f"You are the {route} specialist"


# The routes of the routing patterns; each has a specialist and a tool that picks it.
ROUTES: Final = ("billing", "account", "product")


def route_tool(route: str) -> str:
    return f"{route}_agent"


# Tool names.
FETCH_SERVICE_STATUS: Final = "fetch_service_status"
CREATE_SUPPORT_TICKET: Final = "create_support_ticket"
QUERY_USER_DATABASE: Final = "query_user_database"
GET_WEATHER: Final = "get_weather"
GET_HUMAN_REVIEW: Final = "get_human_review"

# Name of the orchestrator's structured output (the JSON schema's name).
TASK_LIST: Final = "task_list"
