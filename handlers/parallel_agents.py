"""Parallel agents: three analyses of one text run concurrently.

Text → Sentiment ‖ Key points ‖ Summary → [three answers]
"""

from __future__ import annotations

from agentpipe.patterns import PATTERNS
from agentpipe.requests import ParallelAgentsRequest
from handlers import prompts
from handlers.budgeted_calls import LlmCall
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun

STEP_NAMES = {"sentiment": "Analyze sentiment", "key_points": "Extract key points", "summary": "Summarize"}


async def analyze(run: PatternRun[ParallelAgentsRequest], request: ParallelAgentsRequest) -> Outcome:
    calls = [
        LlmCall(STEP_NAMES[task], [{"role": "system", "content": system}, {"role": "user", "content": request.message}])
        for task, system in prompts.PARALLEL_ANALYSES.items()
    ]
    return Outcome(output=[reply.text for reply in await run.llm_all(calls)])


PATTERN = Pattern(PATTERNS["parallel-agents"], work=analyze, llm_calls=3)
