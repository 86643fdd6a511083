"""1,000 valid and 100 invalid records interleaved across partitions: 1,000 results, 100 dead
letters, and chat messages of each session answered in topic order."""

from __future__ import annotations

import json
import random

import pytest

from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic, request_topic, result_topic
from tests.kafka_io import TopicReader, new_id, producer
from tests.restate_api import ingress

pytestmark = pytest.mark.slow

VALID, INVALID, SESSIONS = 1000, 100, 10


def invalid_record(i: int) -> tuple[str, bytes, bytes | None]:
    kind = i % 4
    if kind == 0:
        return request_topic("chaining"), b"not json at all %d" % i, None
    if kind == 1:
        return request_topic("chaining"), json.dumps({"message": i}).encode(), None  # wrong type
    if kind == 2:
        return request_topic("chaining"), b'{"message": "' + b"y" * (get_settings().max_record_bytes + 1) + b'"}', None
    return request_topic("chat"), json.dumps({"message": f"keyless {i}"}).encode(), None


def test_poison_mix(stack):
    tag = new_id("mix")
    rng = random.Random(7)
    sessions = [f"{tag}-s{n}" for n in range(SESSIONS)]
    chat_sent: dict[str, list[str]] = {s: [] for s in sessions}
    plan: list[tuple[str, bytes, bytes | None, str | None]] = []
    for i in range(VALID):
        if i % 10 == 0:  # a tenth of the valid records are chat turns: 10 per session
            session = sessions[(i // 10) % SESSIONS]
            text = f"turn {len(chat_sent[session]) + 1} of {session}"
            chat_sent[session].append(text)
            plan.append(
                (
                    request_topic("chat"),
                    json.dumps({"request_id": f"{tag}-{i}", "message": text}).encode(),
                    session.encode(),
                    f"{tag}-{i}",
                )
            )
        else:
            plan.append(
                (
                    request_topic("chaining"),
                    json.dumps({"request_id": f"{tag}-{i}", "message": "Revenue grew by 3%."}).encode(),
                    None,
                    f"{tag}-{i}",
                )
            )
    bad_positions = sorted(rng.sample(range(VALID + INVALID), INVALID))
    for n, position in enumerate(bad_positions):
        topic, value, key = invalid_record(n)
        plan.insert(position, (topic, value, key, None))

    reader = TopicReader.open([result_topic("chaining"), result_topic("chat"), dead_letters_topic()])
    p = producer()
    bad_coords: set[tuple[str, int, int]] = set()

    def remember_bad(err, msg):
        assert err is None
        bad_coords.add((msg.topic(), msg.partition(), msg.offset()))

    for topic, value, key, request_id in plan:
        p.produce(topic, value=value, key=key, on_delivery=None if request_id else remember_bad)
        p.poll(0)
    p.flush(60)
    valid_ids = {request_id for *_rest, request_id in plan if request_id}

    def done(seen):
        results = {r["value"]["request_id"] for r in seen if r["topic"] != dead_letters_topic()}
        letters = {
            (r["value"]["source"]["topic"], r["value"]["source"]["partition"], r["value"]["source"]["offset"])
            for r in seen
            if r["topic"] == dead_letters_topic() and r["value"].get("source")
        }
        return valid_ids <= results and bad_coords <= letters

    reader.collect(done, timeout=300)
    reader.close()
    results = [r for r in reader.seen if r["topic"] != dead_letters_topic() and r["value"]["request_id"] in valid_ids]
    assert len({r["value"]["request_id"] for r in results}) == VALID
    assert all(r["value"]["status"] == "ok" for r in results)
    assert len(bad_coords) == INVALID
    for session, texts in chat_sent.items():
        said = [m["content"] for m in ingress(f"Chat/{session}/history") if m["role"] == "user"]
        assert len(texts) * 2 <= get_settings().chat_history_max  # the whole conversation is kept
        assert said == texts, session
