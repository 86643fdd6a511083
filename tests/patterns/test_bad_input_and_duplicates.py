"""Bad records become dead letters with their coordinates; valid ones around them still get results.
Two records with the same request id run once."""

from __future__ import annotations

import base64

from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic, request_topic, result_topic
from offline_model.client import OfflineModelControl
from tests.kafka_io import new_id, produce, result_reader, send_request, wait_for_results


def test_poison_records_among_valid_ones(stack):
    topic = request_topic("chaining")
    too_large = b'{"message": "' + b"x" * (get_settings().max_record_bytes + 10) + b'"}'
    poison = {
        "not json": b"this is not json",
        "wrong type": b'{"message": 42}',
        "not an object": b'["a", "list"]',
        "too large": too_large,
        "bad utf-8": b'{"message": "\xff\xfe"}',
    }
    with result_reader("chaining", "chat") as reader:
        valid, bad = [], {}
        for partition in range(get_settings().request_partitions):
            valid.append(send_request("chaining", {"message": f"Revenue grew by {partition + 2}%."}))
            for name, payload in poison.items():
                bad[(topic, *produce(topic, payload, partition=partition))] = name
            valid.append(send_request("chaining", {"message": f"Churn is at {partition + 1}%."}))
        chat_coords = (request_topic("chat"), *produce(request_topic("chat"), {"message": "no key"}))

        def letters(seen):
            # Keyed by topic too: a chat letter and a chaining letter can share (partition, offset).
            return {
                (r["value"]["source"]["topic"], r["value"]["source"]["partition"], r["value"]["source"]["offset"]): r[
                    "value"
                ]
                for r in seen
                if r["topic"] == dead_letters_topic()
                and isinstance(r["value"], dict)
                and isinstance(r["value"].get("source"), dict)
                and r["value"]["source"].get("topic") in (topic, request_topic("chat"))
            }

        results = wait_for_results("chaining", valid, reader, timeout=90)
        reader.collect(lambda seen: set(bad) | {chat_coords} <= set(letters(seen)), timeout=60)
    assert all(results[r]["value"]["status"] == "ok" for r in valid)
    found = letters(reader.seen)
    for coords, name in bad.items():
        letter = found[coords]
        assert letter["source"]["topic"] == topic and letter["failed_at"]
        assert base64.b64decode(letter["payload_base64"]) == poison[name], name
    assert "over the limit" in found[next(c for c, n in bad.items() if n == "too large")]["error"]
    assert "message" in found[next(c for c, n in bad.items() if n == "wrong type")]["error"]
    assert "not valid JSON" in found[next(c for c, n in bad.items() if n == "not json")]["error"]


def test_same_request_id_twice_runs_once_and_yields_one_result(stack):
    control = OfflineModelControl(get_settings().offline_model_url)
    request_id, marker = new_id("dup"), new_id("dup-marker")
    topic = request_topic("chaining")
    body = {"request_id": request_id, "message": "Revenue grew by 1%."}
    with result_reader("chaining") as reader:
        # One partition, so the intake sees the two copies before the marker.
        produce(topic, body, partition=0)
        produce(topic, body, partition=0)
        produce(topic, {"request_id": marker}, partition=0)
        # The marker's result comes after the intake handled both copies: a second run of the id
        # would have been started by then, and its result would be on the topic with the first.
        wait_for_results("chaining", [request_id, marker], reader)
    copies = [
        r for r in reader.seen if r["topic"] == result_topic("chaining") and r["value"]["request_id"] == request_id
    ]
    assert len(copies) == 1, copies
    assert len(control.calls(request_id=request_id)) == 3


def test_a_request_id_reused_for_another_body_is_dead_lettered_naming_the_conflict(stack):
    request_id, marker = new_id("reused"), new_id("reused-marker")
    topic = request_topic("chaining")
    bodies = {"Revenue grew by 1%.": "revenue growth | 1%", "Churn is at 9%.": "churn | 9%"}
    with result_reader("chaining") as reader:
        sent = {
            produce(topic, {"request_id": request_id, "message": message}, partition=1): message for message in bodies
        }
        produce(topic, {"request_id": marker}, partition=1)
        wait_for_results("chaining", [request_id, marker], reader)

        def letters(seen):
            return [
                r["value"]
                for r in seen
                if r["topic"] == dead_letters_topic()
                and r["value"]["source"]["topic"] == topic
                and (r["value"]["source"]["partition"], r["value"]["source"]["offset"]) in sent
            ]

        reader.collect(lambda seen: len(letters(seen)) >= 1)
    # Intakes of one partition run concurrently: whichever record claims the id first runs,
    # the other is the dead letter, and it names the record that holds the id.
    [letter] = letters(reader.seen)
    refused = (letter["source"]["partition"], letter["source"]["offset"])
    [holder] = [coordinates for coordinates in sent if coordinates != refused]
    assert f"request id {request_id!r} is already used" in letter["error"]
    assert f"{topic}/{holder[0]}/{holder[1]}" in letter["error"]
    results = [
        r["value"]
        for r in reader.seen
        if r["topic"] == result_topic("chaining") and r["value"]["request_id"] == request_id
    ]
    assert len(results) == 1 and bodies[sent[holder]] in results[0]["output"], results
