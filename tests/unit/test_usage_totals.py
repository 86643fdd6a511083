"""Usage totals per day, pattern and model, and their price (producers/usage.py)."""

from __future__ import annotations

import pytest

from agentpipe.messages import AgentResult, Usage
from agentpipe.settings import get_settings
from producers.usage import usage_by_day


def result(day: str, pattern: str, model: str, calls: int, prompt: int, completion: int) -> AgentResult:
    return AgentResult(
        request_id=f"{day}-{pattern}-{calls}",
        pattern=pattern,
        status="ok",
        output="x",
        completed_at=f"{day}T10:00:00.000Z",
        usage=Usage(llm_calls=calls, prompt_tokens=prompt, completion_tokens=completion, model=model),
    )


@pytest.fixture
def prices(monkeypatch):
    monkeypatch.setenv("AGENTPIPE_PRICES", '{"m1": {"input": 2.0, "output": 8.0}}')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_totals_per_day_pattern_and_model_with_their_cost(prices):
    rows = usage_by_day(
        [
            result("2026-11-27", "chaining", "m1", 3, 100, 50),
            result("2026-11-27", "chaining", "m1", 3, 300, 150),
            result("2026-11-28", "chaining", "m1", 3, 10, 5),
            result("2026-11-27", "chat", "m2", 1, 7, 3),
        ]
    )
    got = [(r.day, r.pattern, r.model, r.requests, r.llm_calls, r.prompt_tokens, r.completion_tokens) for r in rows]
    assert got == [
        ("2026-11-27", "chaining", "m1", 2, 6, 400, 200),
        ("2026-11-27", "chat", "m2", 1, 1, 7, 3),
        ("2026-11-28", "chaining", "m1", 1, 3, 10, 5),
    ]
    assert rows[0].cost_usd == pytest.approx((400 * 2.0 + 200 * 8.0) / 1e6)
    assert rows[1].cost_usd is None  # no price for m2


def test_usage_adds_up_and_keeps_the_model():
    total = Usage().plus(Usage(llm_calls=1, prompt_tokens=5, completion_tokens=2, model="a"))
    total = total.plus(Usage(llm_calls=2, prompt_tokens=1, completion_tokens=1))
    assert total == Usage(llm_calls=3, prompt_tokens=6, completion_tokens=3, model="a")
