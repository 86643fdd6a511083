"""`agentpipe status` shows where a backlog waits: records on a request topic that its subscription
has not taken in yet, and calls and parked requests in a provider budget."""

from __future__ import annotations

import json
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from agentpipe.kafka_config import client_config
from agentpipe.settings import get_settings
from agentpipe.topics import request_topic
from offline_model.client import OfflineModelControl
from producers.broker import QUIET
from producers.flow_view import topic_backlog
from subscriptions.desired import Subscription
from tests.cli.cli_run import agentpipe, json_lines
from tests.conftest import QUEUED_MODEL, QUEUED_RPM
from tests.kafka_io import new_id, producer, result_reader, wait_for_results


def test_status_counts_the_records_a_subscription_has_not_taken_in(stack):
    topic = new_id("backlog-topic")
    admin = AdminClient(client_config(logger=QUIET))
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    p = producer()
    for i in range(7):
        p.produce(topic, value=b"{}", partition=i % 2)
    assert p.flush(30) == 0
    sub = Subscription(topic, "Nobody", "ingest")
    [nothing_taken] = topic_backlog(admin, [(sub.topic, sub.group_id)], 10)
    assert nothing_taken.waiting == 7 and nothing_taken.problem is None
    # The group takes in three records of partition 0 (of its four).
    consumer = Consumer(client_config(logger=QUIET, **{"group.id": sub.group_id, "enable.auto.commit": False}))
    consumer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    consumer.close()
    [some_taken] = topic_backlog(admin, [(sub.topic, sub.group_id)], 10)
    assert some_taken.waiting == 4


def test_status_shows_the_requests_waiting_in_a_models_budget(stack):
    control = OfflineModelControl(get_settings().offline_model_url)
    control.set_limits(requests_per_s=0.1, model=QUEUED_MODEL)
    try:
        p = producer()
        ids = [new_id("queued") for _ in range(6)]
        for request_id in ids:
            body = {"request_id": request_id, "model": QUEUED_MODEL, "priority": "batch", "deadline_s": 20}
            p.produce(request_topic("chaining"), value=json.dumps(body).encode())
        assert p.flush(30) == 0
        started = time.monotonic()
        deadline = started + 30
        polls: list[str] = []  # what each look saw, for the failure message (once seen in CI: no wait caught)
        while True:
            proc = agentpipe("status", "--json")
            assert proc.returncode == 0, proc.stderr
            [view] = json_lines(proc.stdout)
            budget = next((b for b in view["budgets"] if b["key"].endswith(f"/{QUEUED_MODEL}")), None)
            waiting = budget["waiting"] if budget else None
            polls.append(f"{time.monotonic() - started:.1f}s: {waiting}, granted {budget and budget['granted']}")
            if budget is not None and budget["waiting"]["batch"] >= 3:
                break
            assert time.monotonic() < deadline, f"no backlog in the budget: {budget}; looks: {polls}"
            time.sleep(0.5)
        assert budget["configured_requests_per_minute"] == QUEUED_RPM
        assert budget["waiting"]["interactive"] == 0
        chaining = next(b for b in view["backlog"] if b["topic"] == request_topic("chaining"))
        assert chaining["waiting"] is not None and chaining["problem"] is None
        # They wait parked in the batch queue (its budget is configured, so they park at the ingest: with
        # a limit learned from 429s, whether a request parks or waits suspended for a permit depends on
        # whether its process had seen the 429 yet). Status says so, and cancel says why it cannot.
        states = {}
        for request_id in ids:
            proc = agentpipe("status", request_id, "--json")
            assert proc.returncode == 0, proc.stderr
            [status] = json_lines(proc.stdout)
            states[request_id] = status
        parked = [i for i, status in states.items() if status["state"] == "waiting for the model's budget"]
        assert parked, states
        assert all(QUEUED_MODEL in states[i]["target"] and "batch queue" in states[i]["target"] for i in parked)
        proc = agentpipe("cancel", parked[0])
        assert proc.returncode == 1 and "waits for its model's budget" in proc.stderr
    finally:
        control.set_limits(None, model=QUEUED_MODEL)


def test_status_shows_the_requests_waiting_in_restate_above_capacity(stack):
    """Above capacity a backlog waits in Restate (invocations not started yet), not on the topic:
    status counts them per service and handler, and every request still ends ok."""
    control = OfflineModelControl(get_settings().offline_model_url)
    control.set_latency(300)  # three calls of 0.3 s each: far more requests than invoker slots
    try:
        with result_reader("chaining") as reader:
            p = producer()
            ids = [new_id("over") for _ in range(300)]
            for request_id in ids:
                p.produce(request_topic("chaining"), value=json.dumps({"request_id": request_id}).encode())
            assert p.flush(30) == 0
            deadline = time.monotonic() + 30
            while True:
                proc = agentpipe("status", "--json")
                assert proc.returncode == 0, proc.stderr
                [view] = json_lines(proc.stdout)
                waiting = {f"{w['service']}/{w['handler']}": w["ready"] for w in view["waiting"]}
                if waiting.get("RequestIds/chaining", 0) + waiting.get("CallChainingService/ingest", 0) >= 50:
                    break
                assert time.monotonic() < deadline, f"no backlog seen in Restate: {view['waiting']}"
                time.sleep(0.3)
            results = wait_for_results("chaining", ids, reader, timeout=180)
    finally:
        control.set_latency(0)
    assert {r["value"]["status"] for r in results.values()} == {"ok"}
    [drained] = json_lines(agentpipe("status", "--json").stdout)
    assert not [w for w in drained["waiting"] if w["service"] in ("RequestIds", "CallChainingService")], drained
