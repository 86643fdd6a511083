"""Chaining: three LLM steps, each feeding the next.

    Input → Extract metrics → Sort metrics → Format as table → Result
"""

from __future__ import annotations

import restate

from handlers.policies import invocation_retry_policy
from handlers import prompts
from handlers.requests import ChainingRequest
from handlers.runtime import Outcome, PatternRun, run_pattern

call_chaining = restate.Service("CallChainingService", invocation_retry_policy=invocation_retry_policy())


async def chain(run: PatternRun, request: ChainingRequest) -> Outcome:
    metrics = await run.ask("Extract metrics", prompts.EXTRACT_METRICS, request.message)
    ordered = await run.ask("Sort metrics", prompts.SORT_METRICS, metrics)
    table = await run.ask("Format as table", prompts.FORMAT_TABLE, ordered)
    return Outcome(output=table)


@call_chaining.handler()
async def run(ctx: restate.Context, request: ChainingRequest) -> dict:
    return await run_pattern(ctx, "chaining", request, chain)
