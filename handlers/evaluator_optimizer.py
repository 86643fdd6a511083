"""Evaluator-optimizer: generate, evaluate (PASS / IMPROVE + feedback), regenerate with the feedback.

    Task → Generate → Evaluate → (IMPROVE: feedback → Generate …)* → PASS → Solution

At most ``evaluator_max_rounds`` rounds; every round is durable, so a crash in
round 3 resumes there instead of redoing rounds 1 and 2.
"""

from __future__ import annotations

from agentpipe.patterns import PATTERNS
from agentpipe.requests import EvaluatorRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun


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


PATTERN = Pattern(PATTERNS["evaluator-optimizer"], work=improve, llm_calls=4)
