"""Chaining: three LLM steps, each feeding the next.

Input → Extract metrics → Sort metrics → Format as table → Result
"""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import MESSAGE_DESCRIPTION, AgentRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun

# The three LLM steps' journal names, in order; the baseline consumers and the benchmark's durable
# shape make the same calls under the same names.
EXTRACT, SORT, FORMAT = "Extract metrics", "Sort metrics", "Format as table"
STEPS = (EXTRACT, SORT, FORMAT)


class ChainingRequest(AgentRequest):
    """A chaining request: a text whose metrics become a table."""

    message: str = Field(default=prompts.EXAMPLE_REPORT, description=MESSAGE_DESCRIPTION)


async def chain(run: PatternRun[ChainingRequest], request: ChainingRequest) -> Outcome:
    metrics = await run.ask(EXTRACT, prompts.EXTRACT_METRICS, request.message)
    ordered = await run.ask(SORT, prompts.SORT_METRICS, metrics)
    table = await run.ask(FORMAT, prompts.FORMAT_TABLE, ordered)
    return Outcome(output=table)


PATTERN = Pattern(
    name="chaining", service="CallChainingService", handler="run", request=ChainingRequest, work=chain, llm_calls=3
)
