"""Crashes mid-stream: the agent service, restate-server and the Kafka broker, each killed with
requests in flight. Nothing is lost, nothing is done twice after client dedupe, and LLM steps
that were journaled before the crash are not called again."""

from __future__ import annotations

import time

import pytest

from tests.reliability.faults import (
    check_batch_after_fault,
    kill_component,
    new_id,
    result_reader,
    send_chaining_batch,
    slowed_model,
    wait_component_back,
)

pytestmark = pytest.mark.slow

BATCH = 60


@pytest.fixture
def slow_model():
    with slowed_model(300) as control:
        yield control


@pytest.mark.parametrize("component", ["agent-service", "restate", "kafka"])
def test_kill_with_requests_in_flight(stack, slow_model, component):
    tag = new_id(f"crash-{component}")
    with result_reader("chaining") as reader:
        ids = send_chaining_batch(BATCH, tag)
        # Strike while many LLM calls of the batch are mid-flight (the call log lists a call as it starts).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            calls = [c for c in slow_model.calls() if c["request_id"].startswith(tag)]
            if len(calls) >= BATCH and len([c for c in calls if c["finished_at"] is None]) >= BATCH // 3:
                break
            time.sleep(0.05)
        fault_at = time.time()
        old_pid = kill_component(component)
        wait_component_back(component, old_pid)
        figures = check_batch_after_fault(component, ids, reader, slow_model, fault_at)
    assert figures.in_flight_at_fault >= BATCH // 3, "the fault hit too few requests in flight to prove anything"
