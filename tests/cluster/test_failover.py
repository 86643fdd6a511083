"""Losing any one node of the cluster with requests in flight: nothing is lost, nothing forks.

Each test produces a batch of chaining requests through Kafka with the model slowed, so the
fault lands while LLM calls are mid-flight, SIGKILLs one process (the supervisor restarts it,
as an orchestrator would), and checks every request has exactly one result after dedupe, that
repeated records carry the same output, and how long the output stalled. Figures go to
.agentpipe/reliability-figures.jsonl with the single-node ones.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from offline_model.client import OfflineModelControl
from tests.cluster.restate_partitions import leadership, wait_settled
from tests.kafka_io import send_request
from tests.reliability.faults import (
    CHAINING_STEPS,
    FIGURES_FILE,
    approve_and_wait,
    check_batch_after_fault,
    kill_component,
    new_id,
    result_reader,
    send_chaining_batch,
    slowed_model,
    wait_component_back,
    wait_for_approval_request,
)

pytestmark = pytest.mark.slow

BATCH = 300


@pytest.fixture(autouse=True)
def restate_settled():
    """Each test starts on a quiet cluster: the last test's restarted node (or one a restarting broker
    starved out of the gossip) can move partition leadership for seconds after its process is back,
    and a leader change is a fault of its own."""
    wait_settled()


@pytest.fixture
def slow_model():
    with slowed_model(400) as control:
        yield control


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def recovery(records: list[dict], ids: set[str], fault_at: float) -> dict[str, float]:
    """How the output behaved after the fault: the longest pause between results, and the time
    until the last result of the batch (both in seconds from the fault)."""
    done = sorted(_epoch(r["value"]["completed_at"]) for r in records if r["value"].get("request_id") in ids)
    after = [t for t in done if t >= fault_at]
    gaps = [b - a for a, b in zip([fault_at, *after], after, strict=False)]
    return {
        "longest_stall_s": round(max(gaps, default=0.0), 2),
        "drained_after_s": round((after or [fault_at])[-1] - fault_at, 2),
    }


def no_forks(records: list[dict], ids: set[str]) -> None:
    """A request published twice (a retried publish) carries the same output both times."""
    outputs: dict[str, set[str]] = defaultdict(set)
    for record in records:
        value = record["value"]
        if value.get("request_id") in ids:
            outputs[value["request_id"]].add(json.dumps([value["status"], value["output"]]))
    forked = {request_id: seen for request_id, seen in outputs.items() if len(seen) > 1}
    assert not forked, f"requests with different outputs: {list(forked.items())[:3]}"


def strike_mid_stream(model: OfflineModelControl, tag: str, count: int) -> None:
    """Wait until half the batch is mid-way: its LLM work started, not all of its steps answered (half,
    so that the third the test asserts on is still unfinished when the kill lands).

    Not "a third with a call open at this instant": on 2 cores the cluster runs about 25 calls at
    once, so that needed the first burst to be fast, and a loaded CI run was not (what the test
    asserts afterwards, in_flight_at_fault, also counts started and unfinished requests)."""
    steps = len(CHAINING_STEPS)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answered: Counter[str] = Counter()
        started = set()
        for call in model.calls():
            if call["request_id"].startswith(tag):
                started.add(call["request_id"])
                if call["finished_at"] is not None and call["status"] == 200:
                    answered[call["request_id"]] += 1
        if sum(1 for request_id in started if answered[request_id] < steps) >= count // 2:
            return
        time.sleep(0.05)
    raise AssertionError("the batch never had half of its requests mid-way")


# Restate last: a restarted node takes partition leadership back, which moves in-flight invocations
# (their LLM calls run again) and would blur the figures of a test that follows.
@pytest.mark.parametrize("component", ["agent-service-1", "kafka-2", "restate-2"])
def test_one_node_lost_with_requests_in_flight(stack, slow_model, component):
    tag = new_id(f"cluster-{component}")
    with result_reader("chaining") as reader:
        ids = send_chaining_batch(BATCH, tag)
        strike_mid_stream(slow_model, tag, BATCH)
        leaders = leadership()
        fault_at = time.time()
        old_pid = kill_component(component)
        try:
            figures = check_batch_after_fault(f"cluster: {component}", ids, reader, slow_model, fault_at, timeout=300)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nRestate's partition leaders at the fault: {leaders}; now: {leadership()}"
            ) from None
        no_forks(reader.seen, set(ids))
        timing = recovery(reader.seen, set(ids), fault_at)
    wait_component_back(component, old_pid)
    with FIGURES_FILE.open("a") as out:
        out.write(json.dumps({"fault": f"cluster: {component}", "recovery": timing}) + "\n")
    print(
        f"\n{component} killed: {figures.in_flight_at_fault} in flight, {figures.lost} lost, "
        f"{figures.duplicated_records} repeated records, longest stall {timing['longest_stall_s']} s, "
        f"batch done {timing['drained_after_s']} s after the kill"
    )
    assert figures.in_flight_at_fault >= BATCH // 3, "the fault hit too few requests in flight to prove anything"


def test_waiting_approval_survives_the_loss_of_a_node(stack):
    request_id, approval_id = wait_for_approval_request("A borderline meme; might be satire.")
    for node in ("restate-1", "restate-3"):  # one at a time: the others keep a quorum
        old_pid = kill_component(node)
        wait_component_back(node, old_pid)
    value = approve_and_wait(request_id, approval_id, "after-failover")
    assert value["status"] == "ok" and value["output"] == "approved by after-failover"


def test_a_chat_session_keeps_topic_order_across_a_node_loss(stack, slow_model):
    session = new_id("cluster-chat")
    turns = 12
    with result_reader("chat") as reader:
        ids = []
        for turn in range(1, turns + 1):
            ids.append(send_request("chat", {"message": f"message {turn}"}, key=session))
            if turn == 4:
                old_pid = kill_component("restate-2")
        reader.collect(lambda seen: {r["value"].get("request_id") for r in seen} >= set(ids), timeout=240)
    wait_component_back("restate-2", old_pid)
    replies = {
        r["value"]["request_id"]: r["value"]["output"] for r in reader.seen if r["value"].get("session_id") == session
    }
    # The offline model repeats the message and lists the earlier ones it was given (the history,
    # bounded to the newest turns): each reply answers its own message, after the ones before it.
    for n, request_id in enumerate(ids, start=1):
        reply = replies[request_id]
        assert f"You said: message {n} " in reply, reply
        earlier = reply.split("Earlier you said: ", 1)[1].rstrip(".").split(" | ") if n > 1 else []
        assert earlier == [f"message {k}" for k in range(n - len(earlier), n)], reply
