"""Evaluator-optimizer: generate, evaluate (PASS / IMPROVE + feedback), regenerate with the feedback.

    Task → Generate → Evaluate → (IMPROVE: feedback → Generate …)* → PASS → Solution

At most ``evaluator_max_rounds`` rounds; every round is durable, so a crash in
round 3 resumes there instead of redoing rounds 1 and 2.
"""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import MESSAGE_DESCRIPTION, AgentRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun


class EvaluatorRequest(AgentRequest):
    """An evaluator-optimizer request: a coding task, improved until the evaluator accepts it."""

    message: str = Field(default=prompts.EXAMPLE_CODING_TASK, description=MESSAGE_DESCRIPTION)


async def improve(run: PatternRun[EvaluatorRequest], request: EvaluatorRequest) -> Outcome:
    feedback = ""
    solution = ""
    rounds = (await run.bounds()).evaluator_max_rounds
    for round_no in range(1, rounds + 1):
        prompt = f"Task: {request.message}"
        if feedback:
            prompt += f"\n\nPrevious solution:\n{solution}\n\nFeedback: {feedback}"
        solution = await run.ask(f"Generate (round {round_no})", prompts.GENERATOR, prompt)
        verdict = await run.ask(
            f"Evaluate (round {round_no})", prompts.EVALUATOR, f"Task: {request.message}\n\nSolution:\n{solution}"
        )
        if verdict.strip().upper().startswith("PASS"):
            return Outcome(output=solution)
        feedback = verdict.strip().removeprefix("IMPROVE").lstrip(":").strip() or verdict.strip()
    return Outcome(output=f"[not passed after {rounds} rounds; last feedback: {feedback}]\n{solution}")


PATTERN = Pattern(
    name="evaluator-optimizer",
    service="EvaluatorOptimizer",
    handler="improve_until_good",
    request=EvaluatorRequest,
    work=improve,
    llm_calls=4,
)
