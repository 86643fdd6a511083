"""LLM faults from the offline model: 429, 500, hangs past the client timeout, other 4xx.
Requests complete after bounded retries or end with status error and a clear message;
other requests keep flowing meanwhile."""

from __future__ import annotations

import pytest

from agentpipe.settings import get_settings
from offline_model.client import OfflineModelControl
from tests.kafka_io import new_id, request_and_wait, result_reader, send_request, wait_for_results


@pytest.fixture
def model():
    control = OfflineModelControl(get_settings().offline_model_url)
    yield control
    control.reset()


def run_one(request_id: str, timeout: float = 90) -> dict:
    return request_and_wait("chaining", {"request_id": request_id}, timeout=timeout)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried_and_the_request_completes(stack, model, status):
    request_id = new_id(f"llm-{status}")
    model.fail_next(2, status=status, match=request_id)
    value = run_one(request_id)
    assert value["status"] == "ok", value
    calls = model.calls(request_id=request_id)
    assert [c["status"] for c in calls] == [status, status, 200, 200, 200]
    assert [c["step"] for c in calls][:3] == ["Extract metrics"] * 3


def test_a_hang_past_the_client_timeout_is_retried(stack, model):
    request_id = new_id("llm-hang")
    model.hang_next(1, seconds=get_settings().llm_timeout_s + 3, match=request_id)
    value = run_one(request_id)
    assert value["status"] == "ok", value
    assert len([c for c in model.calls(request_id=request_id) if c["step"] == "Extract metrics"]) == 2


def test_other_4xx_fails_at_once_with_a_clear_message(stack, model):
    request_id = new_id("llm-400")
    model.fail_next(5, status=400, match=request_id)
    value = run_one(request_id)
    assert value["status"] == "error"
    assert "Extract metrics" in value["error"] and "HTTP 400" in value["error"]
    assert len(model.calls(request_id=request_id)) == 1  # not retried


def test_exhausted_retries_end_with_status_error_and_others_keep_flowing(stack, model):
    failing = new_id("llm-exhausted")
    model.fail_next(100, status=500, match=failing)
    with result_reader("chaining") as reader:
        send_request("chaining", {"request_id": failing})
        others = [send_request("chaining", {}) for _ in range(5)]
        results = wait_for_results("chaining", [failing, *others], reader, timeout=120)
    assert all(results[r]["value"]["status"] == "ok" for r in others)
    value = results[failing]["value"]
    assert value["status"] == "error" and value["error"]
    attempts = len(model.calls(request_id=failing))
    assert attempts == get_settings().llm_max_attempts


def test_the_tool_loop_is_bounded(stack, model):
    request_id = new_id("loop-bound")
    model.malformed_tool_args(1000, match=request_id)  # every round's tool call is unusable
    value = request_and_wait("parallel-tools", {"request_id": request_id})
    rounds = get_settings().tool_loop_max_rounds
    assert value["status"] == "error" and f"within {rounds} tool rounds" in value["error"]
    assert len(model.calls(request_id=request_id)) == rounds
