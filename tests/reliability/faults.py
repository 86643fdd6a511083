"""Shared pieces of the fault tests: kill a component mid-stream, then count what came out.

The figures each test measures (in flight at the fault, lost, duplicated, LLM
calls rerun) are appended to .agentpipe/reliability-figures.jsonl, from which
the README's reliability table is written.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import psutil

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic, approvals_topic, request_topic, result_topic
from handlers import chaining
from offline_model.client import OfflineModelControl
from stack.topology import stack_components
from tests.kafka_io import TopicReader, new_id, produce, producer, result_reader, results_for, send_request

FIGURES_FILE = Path(__file__).resolve().parents[2] / ".agentpipe" / "reliability-figures.jsonl"
CHAINING_STEPS = chaining.STEPS


def component_pid(name: str) -> int | None:
    status = json.loads((get_settings().state_dir / "status.json").read_text())
    return status["components"][name]["pid"]


def kill_component(name: str, sig: int = signal.SIGKILL) -> int:
    pid = component_pid(name)
    assert pid, f"{name} is not running"
    os.kill(pid, sig)
    return pid


def wait_component_back(name: str, old_pid: int, timeout: float = 90.0) -> None:
    component = next(c for c in stack_components(get_settings(), get_settings().state_dir) if c.name == name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = component_pid(name)
        if pid and pid != old_pid and psutil.pid_exists(pid) and component.healthy():
            return
        time.sleep(0.3)
    raise AssertionError(f"{name} did not come back within {timeout}s")


@dataclass
class FaultFigures:
    fault: str
    requests: int
    in_flight_at_fault: int
    lost: int
    duplicated_records: int
    results_after_dedupe: int
    llm_calls_rerun: int
    completed_steps_rerun: int

    def record(self) -> None:
        FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES_FILE.open("a") as out:
            out.write(json.dumps({**asdict(self), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")


@contextmanager
def slowed_model(latency_ms: float) -> Iterator[OfflineModelControl]:
    """The offline model answering every call after ``latency_ms``, so faults land mid-call."""
    control = OfflineModelControl(get_settings().offline_model_url)
    control.set_latency(latency_ms)
    try:
        yield control
    finally:
        control.set_latency(0)


def wait_for_approval_request(content: str) -> tuple[str, str]:
    """Send a human-in-the-loop request that the model hands to a person; returns (request id, approval id)."""
    with TopicReader.open([approval_requests_topic()]) as reader:
        request_id = send_request("human-in-the-loop", {"content": content})
        reader.collect(lambda seen: any(r["value"]["request_id"] == request_id for r in seen))
        return request_id, next(
            r["value"]["approval_id"] for r in reader.seen if r["value"]["request_id"] == request_id
        )


def approve_and_wait(request_id: str, approval_id: str, reviewer: str, timeout: float = 120) -> dict:
    """Publish a signed approval and return the request's result value."""
    with TopicReader.open([result_topic("human-in-the-loop")], from_beginning=True) as results:
        signature = approval_signature(get_settings().approval_secret, approval_id, "approved")
        produce(
            approvals_topic(),
            {"approval_id": approval_id, "decision": "approved", "reviewer": reviewer, "signature": signature},
            key=approval_id,
        )
        results.collect(lambda seen: any(r["value"]["request_id"] == request_id for r in seen), timeout=timeout)
    return next(r["value"] for r in results.seen if r["value"]["request_id"] == request_id)


def send_chaining_batch(count: int, tag: str) -> list[str]:
    """Produce the whole batch at once, so it is in flight together."""
    ids = [f"{tag}-{i:03d}" for i in range(count)]
    p = producer()
    for request_id in ids:
        body = {"request_id": request_id, "message": f"Revenue grew by {len(request_id)}%. Churn is at 2%."}
        p.produce(request_topic("chaining"), json.dumps(body).encode())
    p.flush(30)
    return ids


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def check_batch_after_fault(
    fault: str, ids: list[str], reader: TopicReader, model, fault_at: float, timeout: float = 180
) -> FaultFigures:
    """Every request has exactly one result after dedupe, and no LLM step that was acknowledged
    (journaled) before the fault ran again (a step in flight at the fault may run twice)."""
    topic = result_topic("chaining")
    try:
        reader.collect(lambda seen: len(results_for(seen, ids)) == len(ids), timeout)
        # Duplicates published after every id had its first result still count: read on to the end.
        reader.read_to_current_end()
    finally:
        got = results_for(reader.seen, ids)
    records = [r for r in reader.seen if r["topic"] == topic and r["value"].get("request_id") in set(ids)]
    per_id = Counter(r["value"]["request_id"] for r in records)
    lost = [r for r in ids if r not in got]

    rerun_calls = 0
    completed_rerun = []
    in_flight_count = 0
    for request_id in ids:
        calls = model.calls(request_id=request_id)
        # In flight at the fault: LLM work had started and the result came after.
        if request_id in got and min(c["started_at"] for c in calls) < fault_at < _epoch(
            got[request_id]["value"]["completed_at"]
        ):
            in_flight_count += 1
        by_step: dict[str, list[dict]] = {}
        for call in calls:
            by_step.setdefault(call["step"], []).append(call)
        assert set(by_step) == set(CHAINING_STEPS), (request_id, by_step.keys())
        for index, step in enumerate(CHAINING_STEPS):
            attempts = by_step[step]
            rerun_calls += len(attempts) - 1
            # The chain awaits each step's journal entry before the next step starts, so a step was
            # acknowledged before the fault when the next one started before it (the last: when the
            # result was published). Acknowledged, yet called again: the durability promise broke.
            # A step that finished at the model but was not acknowledged yet (a busy cluster whose
            # leader then died) may run again, like one in flight.
            # Judged by when each attempt started: two attempts before the acknowledgment are one step
            # run twice while in flight (a retried invocation attempt), not a broken promise. Only steps
            # acknowledged before the fault are judged (what the fault can break).
            if index + 1 < len(CHAINING_STEPS):
                acknowledged_at: float | None = min(c["started_at"] for c in by_step[CHAINING_STEPS[index + 1]])
            else:
                acknowledged_at = _epoch(got[request_id]["value"]["completed_at"]) if request_id in got else None
            acknowledged_before_fault = acknowledged_at is not None and acknowledged_at < fault_at
            if acknowledged_before_fault and any(c["started_at"] > acknowledged_at for c in attempts):
                completed_rerun.append((request_id, step))
    figures = FaultFigures(
        fault=fault,
        requests=len(ids),
        in_flight_at_fault=in_flight_count,
        lost=len(lost),
        duplicated_records=sum(n - 1 for n in per_id.values()),
        results_after_dedupe=len(got),
        llm_calls_rerun=rerun_calls,
        completed_steps_rerun=len(completed_rerun),
    )
    figures.record()
    assert not lost, f"lost requests: {lost[:10]}"
    assert all(got[r]["value"]["status"] == "ok" for r in ids), [
        got[r]["value"] for r in ids if got[r]["value"]["status"] != "ok"
    ][:3]
    assert not completed_rerun, f"completed steps ran again: {completed_rerun[:10]}"
    # Usage counts the journaled steps, once each, however many calls the crash made the model see:
    # three calls, and the tokens of one answer per step (the model answers a prompt the same way).
    wrong_usage = []
    for request_id in ids:
        answered = {c["step"]: c["usage"] for c in model.calls(request_id=request_id) if c["status"] == 200}
        usage = got[request_id]["value"]["usage"]
        journaled = (
            len(CHAINING_STEPS),
            sum(u["prompt_tokens"] for u in answered.values()),
            sum(u["completion_tokens"] for u in answered.values()),
        )
        if (usage["llm_calls"], usage["prompt_tokens"], usage["completion_tokens"]) != journaled:
            wrong_usage.append((request_id, usage, journaled))
    assert not wrong_usage, wrong_usage[:3]
    return figures


__all__ = [
    "FaultFigures",
    "approve_and_wait",
    "check_batch_after_fault",
    "component_pid",
    "kill_component",
    "new_id",
    "result_reader",
    "send_chaining_batch",
    "slowed_model",
    "wait_component_back",
    "wait_for_approval_request",
]
