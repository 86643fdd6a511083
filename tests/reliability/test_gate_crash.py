"""The topic gate killed while chat messages stream through it: each message is copied to the gated
topic exactly once (its Kafka transactions), answered once, in its session's order, and the gate's
successor takes over at once (static group membership, not a wait for the dead member's session).
And the broker killed under the gate: it copies again once the broker is back."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from agentpipe.gated import gated_topic, unwrap
from agentpipe.kafka_config import client_config
from agentpipe.topics import request_topic
from tests.kafka_io import new_id, producer, request_and_wait, result_reader, results_for
from tests.reliability.faults import kill_component, wait_component_back

pytestmark = pytest.mark.slow

SESSIONS = 12
TURNS = 25  # per session, produced over about five seconds
KILLS_AT_S = (1.5, 3.5)


def committed_copies(topic: str) -> Counter[tuple[str, int, int]]:
    """How often each original record (topic, partition, offset) appears in ``topic``, committed copies only."""
    consumer = Consumer(
        client_config(
            **{"group.id": new_id("copies"), "enable.auto.commit": False, "isolation.level": "read_committed"}
        )
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        copies: Counter[tuple[str, int, int]] = Counter()
        positions = {p: 0 for p in partitions}
        deadline = time.monotonic() + 60
        # The last stable offset may sit below the end while a transaction is open: read what is committed.
        while any(positions[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    positions[message.partition() or 0] = (message.offset() or 0) + 1
                    source, _value = unwrap(message.value() or b"")
                    copies[(source.topic, source.partition, source.offset)] += 1
            if not consumer.assignment():
                break
            for tp in consumer.position(consumer.assignment()):
                if tp.offset >= 0:
                    positions[tp.partition] = max(positions[tp.partition], tp.offset)
        return copies
    finally:
        consumer.close()


def test_a_gate_killed_mid_stream_copies_each_record_once(stack):
    tag = new_id("gate-crash")
    sessions = [f"{tag}-session-{i}" for i in range(SESSIONS)]
    produced: dict[str, tuple[str, int, int]] = {}  # request id -> its record's coordinates
    order: dict[str, list[str]] = {s: [] for s in sessions}
    p = producer()

    def delivered(request_id: str):
        def report(err, msg):
            assert err is None, err
            produced[request_id] = (msg.topic(), msg.partition(), msg.offset())

        return report

    with result_reader("chat") as reader:
        started = time.monotonic()
        kills = list(KILLS_AT_S)
        for turn in range(TURNS):
            for session in sessions:
                request_id = f"{session}-turn-{turn}"
                body = {"request_id": request_id, "message": f"turn {turn}"}
                p.produce(request_topic("chat"), json.dumps(body).encode(), session, on_delivery=delivered(request_id))
                order[session].append(request_id)
            p.poll(0)
            time.sleep(0.2)
            if kills and time.monotonic() - started >= kills[0]:
                kills.pop(0)
                wait_component_back("topic-gate", kill_component("topic-gate"))
        assert p.flush(30) == 0
        wanted = [rid for ids in order.values() for rid in ids]
        reader.collect(lambda seen: len(results_for(seen, wanted)) == len(wanted), timeout=120)
        answered_s = time.monotonic() - started
        reader.read_to_current_end()

    results = [r for r in reader.seen if isinstance(r["value"], dict) and r["value"].get("request_id") in produced]
    per_id = Counter(r["value"]["request_id"] for r in results)
    assert set(per_id) == set(wanted) and max(per_id.values()) == 1, per_id.most_common(3)
    assert all(r["value"]["status"] == "ok" for r in results), [
        r["value"] for r in results if r["value"]["status"] != "ok"
    ][:2]
    # Results name the record the user produced, not its copy.
    assert all(
        (r["value"]["source"]["topic"], r["value"]["source"]["partition"], r["value"]["source"]["offset"])
        == produced[r["value"]["request_id"]]
        for r in results
    )
    offsets = {r["value"]["request_id"]: r["offset"] for r in results}
    for session, ids in order.items():
        assert [offsets[rid] for rid in ids] == sorted(offsets[rid] for rid in ids), session

    copies = committed_copies(gated_topic(request_topic("chat")))
    ours = {coordinates: copies[coordinates] for coordinates in produced.values()}
    assert set(ours.values()) == {1}, {c: n for c, n in ours.items() if n != 1}
    print(f"\ngate killed twice: {len(wanted)} chat messages, each copied once, all answered after {answered_s:.1f}s")


# The gate's watchdog (subscriptions/gate.py) gives a stuck transactional call 15 s, then it restarts.
AFTER_BROKER_RESTART_S = 90.0


def test_the_gate_copies_again_after_the_broker_restarts(stack):
    before = request_and_wait("chat", {"message": "before the broker restarts"}, key=new_id("session"))
    assert before["status"] == "ok", before
    wait_component_back("kafka", kill_component("kafka"))
    started = time.monotonic()
    after = request_and_wait(
        "chat", {"message": "after the broker restarts"}, key=new_id("session"), timeout=AFTER_BROKER_RESTART_S
    )
    assert after["status"] == "ok", after
    print(f"\na chat message after a broker restart answered after {time.monotonic() - started:.1f}s")
