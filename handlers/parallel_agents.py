"""Parallel agents: three analyses of one text run concurrently.

    Text → Sentiment ‖ Key points ‖ Summary → [three answers]
"""

from __future__ import annotations

import restate

from handlers.policies import invocation_retry_policy
from handlers import prompts
from handlers.requests import ParallelAgentsRequest
from handlers.runtime import Outcome, PatternRun, run_pattern

parallel_agents = restate.Service("ParallelAgentsService", invocation_retry_policy=invocation_retry_policy())

STEP_NAMES = {"sentiment": "Analyze sentiment", "key_points": "Extract key points", "summary": "Summarize"}


async def analyze(run: PatternRun, request: ParallelAgentsRequest) -> Outcome:
    futures = [
        run.llm_future(
            STEP_NAMES[task],
            [{"role": "system", "content": system}, {"role": "user", "content": request.message}],
        )
        for task, system in prompts.PARALLEL_ANALYSES.items()
    ]
    await restate.gather(*futures)
    return Outcome(output=[(await future)["content"] or "" for future in futures])


@parallel_agents.handler()
async def analyze_text(ctx: restate.Context, request: ParallelAgentsRequest) -> dict:
    return await run_pattern(ctx, "parallel-agents", request, analyze)
