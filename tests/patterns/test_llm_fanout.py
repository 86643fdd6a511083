"""Parallel agents, orchestrator-workers and evaluator-optimizer through Kafka."""

from __future__ import annotations

from agentpipe.settings import get_settings
from offline_model.client import OfflineModelControl
from tests.kafka_io import new_id, request_and_wait


def model() -> OfflineModelControl:
    return OfflineModelControl(get_settings().offline_model_url)


def overlapped(calls: list[dict]) -> bool:
    return max(c["started_at"] for c in calls) < min(c["finished_at"] for c in calls)


def test_parallel_agents_give_three_answers_from_concurrent_calls(stack):
    control = model()
    control.set_latency(200)  # long enough that sequential calls could not overlap by accident
    try:
        value = request_and_wait(
            "parallel-agents", {"message": "I hate the new update. It crashes daily. Support never answers."}
        )
        request_id = value["request_id"]
    finally:
        control.set_latency(0)
    assert value["status"] == "ok", value
    sentiment, key_points, summary = value["output"]
    assert sentiment.startswith("negative")
    assert len([line for line in key_points.splitlines() if line.startswith("- ")]) == 3
    assert summary.count(".") == 1
    calls = control.calls(request_id=request_id)
    assert len(calls) == 3 and overlapped(calls)


def test_orchestrator_runs_one_worker_per_planned_task(stack):
    control = model()
    value = request_and_wait("orchestrator", {"message": "Write a product description for solar headphones."})
    request_id = value["request_id"]
    assert value["status"] == "ok", value
    assert [entry.split(":")[0] for entry in value["output"]] == ["formal", "conversational", "technical"]
    for entry in value["output"]:
        task_type = entry.split(":")[0]
        assert entry.startswith(f"{task_type}: [{task_type}]")
    steps = [c["step"] for c in control.calls(request_id=request_id)]
    assert steps[0] == "Plan tasks" and sorted(steps[1:]) == sorted(
        f"Worker: {t}" for t in ["formal", "conversational", "technical"]
    )


def test_invalid_task_list_is_asked_for_again(stack):
    control = model()
    request_id = new_id("orch-retry")
    control.malformed_json(1, match=request_id)
    value = request_and_wait("orchestrator", {"request_id": request_id})
    assert value["status"] == "ok" and len(value["output"]) == 3
    steps = [c["step"] for c in control.calls(request_id=request_id)]
    assert steps[:2] == ["Plan tasks", "Plan tasks (attempt 2)"]


def test_task_list_that_stays_invalid_ends_with_status_error(stack):
    control = model()
    request_id = new_id("orch-invalid")
    control.malformed_json(10, match=request_id)
    value = request_and_wait("orchestrator", {"request_id": request_id})
    control.reset()
    assert value["status"] == "error"
    assert "no valid task list in 3 attempts" in value["error"]


def test_evaluator_stops_at_the_round_that_passes(stack):
    control = model()
    value = request_and_wait("evaluator-optimizer", {})
    request_id = value["request_id"]
    assert value["status"] == "ok", value
    assert "Addressed feedback" in value["output"]
    steps = [c["step"] for c in control.calls(request_id=request_id)]
    assert steps == ["Generate (round 1)", "Evaluate (round 1)", "Generate (round 2)", "Evaluate (round 2)"]
