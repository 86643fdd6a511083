"""Parallel agents: three analyses of one text run concurrently.

Text → Sentiment ‖ Key points ‖ Summary → [three answers]
"""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import MESSAGE_DESCRIPTION, AgentRequest
from handlers import prompts
from handlers.budgeted_calls import LlmCall
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun


class ParallelAgentsRequest(AgentRequest):
    """A parallel-agents request: a text to analyze three ways at once."""

    message: str = Field(default=prompts.EXAMPLE_REVIEW, description=MESSAGE_DESCRIPTION)


STEP_NAMES = {"sentiment": "Analyze sentiment", "key_points": "Extract key points", "summary": "Summarize"}


async def analyze(run: PatternRun[ParallelAgentsRequest], request: ParallelAgentsRequest) -> Outcome:
    calls = [
        LlmCall(STEP_NAMES[task], [{"role": "system", "content": system}, {"role": "user", "content": request.message}])
        for task, system in prompts.PARALLEL_ANALYSES.items()
    ]
    return Outcome(output=[reply.text for reply in await run.llm_all(calls)])


PATTERN = Pattern(
    name="parallel-agents",
    service="ParallelAgentsService",
    handler="analyze_text",
    request=ParallelAgentsRequest,
    work=analyze,
    llm_calls=3,
)
