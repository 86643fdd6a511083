"""A credit left over from before a stall is not spent: the step says so and makes no call.

After a restart every stalled request resumes at once; had each spent the calls its permit still
covered, they would all reach the provider together, on top of the burst the budget allows
(tests/reliability/test_flow_control.py shows the restart end to end).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from handlers import llm


@pytest.fixture
def no_model(monkeypatch):
    """Any call that reaches the model fails the test."""

    async def refuse(*args, **kwargs):
        raise AssertionError("the model was called")

    monkeypatch.setattr(llm, "complete", refuse)


def attempt(**kwargs) -> llm.LlmAttempt:
    return asyncio.run(llm.attempt_completion("Extract metrics", [{"role": "user", "content": "x"}], **kwargs))


def test_a_permitted_call_past_its_credits_freshness_is_held_back(no_model):
    held = attempt(permitted=True, stale_after=time.time() - 0.1)
    assert held.held_back == "stale-permit" and held.reply is None
    assert held.flow is not None and held.flow.budget_key.endswith("/agentpipe-offline-deterministic")


def test_a_fresh_credit_and_a_new_permit_reach_the_model(monkeypatch):
    made = []

    async def answer(step, messages, **call):
        made.append(step)
        return llm.LlmReply(content="ok"), llm.ProviderSignals()

    monkeypatch.setattr(llm, "complete", answer)
    assert attempt(permitted=True, stale_after=time.time() + 60).reply is not None
    assert attempt(permitted=True).reply is not None  # a permit just granted carries no freshness
    assert made == ["Extract metrics", "Extract metrics"]
