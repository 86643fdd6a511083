"""Chaining: three LLM steps, each feeding the next.

Input → Extract metrics → Sort metrics → Format as table → Result
"""

from __future__ import annotations

from agentpipe.patterns import PATTERNS
from agentpipe.requests import ChainingRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun

# The three LLM steps' journal names, in order; the baseline consumers and the benchmark's durable
# shape make the same calls under the same names.
EXTRACT, SORT, FORMAT = "Extract metrics", "Sort metrics", "Format as table"
STEPS = (EXTRACT, SORT, FORMAT)


async def chain(run: PatternRun[ChainingRequest], request: ChainingRequest) -> Outcome:
    metrics = await run.ask(EXTRACT, prompts.EXTRACT_METRICS, request.message)
    ordered = await run.ask(SORT, prompts.SORT_METRICS, metrics)
    table = await run.ask(FORMAT, prompts.FORMAT_TABLE, ordered)
    return Outcome(output=table)


PATTERN = Pattern(PATTERNS["chaining"], work=chain, llm_calls=3)
