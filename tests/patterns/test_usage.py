"""Every result says what it cost: LLM calls and the tokens the model reported, counted once per journaled step."""

from __future__ import annotations

from agentpipe.settings import get_settings
from offline_model.client import OfflineModelControl
from tests.cli.cli_run import agentpipe, json_lines
from tests.kafka_io import request_and_wait


def model_usage(request_id: str) -> tuple[int, int, int]:
    """Calls, prompt and completion tokens of the model's successful answers for one request."""
    calls = [
        c
        for c in OfflineModelControl(get_settings().offline_model_url).calls(request_id=request_id)
        if c["status"] == 200
    ]
    return (
        len(calls),
        sum(c["usage"]["prompt_tokens"] for c in calls),
        sum(c["usage"]["completion_tokens"] for c in calls),
    )


def test_a_chaining_result_reports_three_calls_and_the_models_tokens(stack):
    value = request_and_wait("chaining", {"message": "Revenue grew by 12%. Churn is at 3%."})
    calls, prompt, completion = model_usage(value["request_id"])
    assert calls == 3
    assert value["usage"] == {
        "llm_calls": 3,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "model": "agentpipe-offline-deterministic",
    }
    assert prompt > 0 and completion > 0
    assert value["schema_version"] == 1


def test_remote_routing_counts_the_specialists_call_too(stack):
    value = request_and_wait("remote-agent-routing", {"message": "I was charged twice, refund please"})
    calls, prompt, completion = model_usage(value["request_id"])
    assert value["usage"]["llm_calls"] == calls == 2  # classify here, answer in the other deployment
    assert (value["usage"]["prompt_tokens"], value["usage"]["completion_tokens"]) == (prompt, completion)


def test_usage_totals_per_pattern_and_day_with_a_price(stack):
    value = request_and_wait("chaining", {"message": "Margin rose to 30%."})
    proc = agentpipe(
        "usage",
        "--pattern",
        "chaining",
        "--since",
        "1h",
        "--json",
        env={"AGENTPIPE_PRICES": '{"agentpipe-offline-deterministic": {"input": 1.0, "output": 2.0}}'},
    )
    assert proc.returncode == 0, proc.stderr
    rows = {row["model"]: row for row in json_lines(proc.stdout)}
    row = rows["agentpipe-offline-deterministic"]
    assert row["pattern"] == "chaining" and row["day"] == value["completed_at"][:10] and row["requests"] >= 1
    assert row["prompt_tokens"] >= value["usage"]["prompt_tokens"] and row["llm_calls"] >= 3
    expected = (row["prompt_tokens"] * 1.0 + row["completion_tokens"] * 2.0) / 1_000_000
    assert abs(row["cost_usd"] - expected) < 1e-12
    # Other models of the window (a request may choose one) are listed without a price.
    assert all(r["cost_usd"] is None for model, r in rows.items() if model != "agentpipe-offline-deterministic")
