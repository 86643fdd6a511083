"""Multi-agent routing: a classifier picks billing, account or product; that specialist answers.

Question → Classify (tool call) → Specialist LLM → Answer (route named in the result)
"""

from __future__ import annotations

from agentpipe.patterns import PATTERNS
from agentpipe.requests import RoutingRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.routing import classify
from handlers.runtime import Outcome, PatternRun


async def route_to_specialist(run: PatternRun[RoutingRequest], request: RoutingRequest) -> Outcome:
    route = await classify(run, request.message)
    answer = await run.ask(f"{route.capitalize()} specialist", prompts.SPECIALISTS[route], request.message)
    return Outcome(output=answer, route=route)


PATTERN = Pattern(PATTERNS["agent-routing"], work=route_to_specialist, llm_calls=2)
