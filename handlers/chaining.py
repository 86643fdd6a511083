"""Chaining: three LLM steps, each feeding the next.

Input → Extract metrics → Sort metrics → Format as table → Result
"""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import MESSAGE_DESCRIPTION, AgentRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun


class ChainingRequest(AgentRequest):
    """A chaining request: a text whose metrics become a table."""

    message: str = Field(default=prompts.EXAMPLE_REPORT, description=MESSAGE_DESCRIPTION)


async def chain(run: PatternRun[ChainingRequest], request: ChainingRequest) -> Outcome:
    metrics = await run.ask("Extract metrics", prompts.EXTRACT_METRICS, request.message)
    ordered = await run.ask("Sort metrics", prompts.SORT_METRICS, metrics)
    table = await run.ask("Format as table", prompts.FORMAT_TABLE, ordered)
    return Outcome(output=table)


PATTERN = Pattern(name="chaining", service="CallChainingService", handler="run", request=ChainingRequest, work=chain)
