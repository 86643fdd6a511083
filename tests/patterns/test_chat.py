"""Chat sessions through Kafka: a Virtual Object per session key, ordered and isolated."""

from __future__ import annotations

from agentpipe.settings import get_settings
from agentpipe.topics import request_topic
from tests.kafka_io import new_id, produce, result_reader, send_request, wait_for_results
from tests.restate_api import ingress


def history(session: str) -> list[dict]:
    return ingress(f"Chat/{session}/history")


def test_interleaved_sessions_keep_separate_ordered_histories(stack):
    alice, bob = new_id("alice"), new_id("bob")
    script = [
        (alice, "My name is Alice."),
        (bob, "I like trains."),
        (alice, "I live in Graz."),
        (bob, "Trains are fast."),
        (alice, "What is my name?"),
    ]
    with result_reader("chat") as reader:
        ids = [send_request("chat", {"message": text}, key=session) for session, text in script]
        results = wait_for_results("chat", ids, reader)

    for request_id, (session, _text) in zip(ids, script, strict=True):
        record = results[request_id]
        assert record["key"] == session and record["value"]["session_id"] == session

    last = results[ids[-1]]["value"]["output"]
    assert "Turn 3" in last and "My name is Alice." in last and "I like trains." not in last

    alice_history = history(alice)
    assert [m["role"] for m in alice_history] == ["user", "assistant"] * 3
    assert [m["content"] for m in alice_history if m["role"] == "user"] == [t for s, t in script if s == alice]
    assert [m["content"] for m in alice_history if m["role"] == "assistant"] == [
        results[i]["value"]["output"] for i, (s, _t) in zip(ids, script, strict=True) if s == alice
    ]
    assert [m["content"] for m in history(bob) if m["role"] == "user"] == ["I like trains.", "Trains are fast."]


def test_a_reset_record_empties_one_session_only_in_topic_order(stack):
    one, two = new_id("one"), new_id("two")
    with result_reader("chat") as reader:
        ids = [
            send_request("chat", {"message": "hello"}, key=one),
            send_request("chat", {"message": "hi"}, key=two),
            send_request("chat", {"reset": True}, key=one),
            send_request("chat", {"message": "back again"}, key=one),
        ]
        results = wait_for_results("chat", ids, reader)
    assert results[ids[2]]["value"]["output"] == "session reset"
    # The message after the reset, in topic order, starts a new conversation.
    assert "Turn 1" in results[ids[3]]["value"]["output"]
    assert [m["content"] for m in history(one) if m["role"] == "user"] == ["back again"]
    assert len(history(two)) == 2


def test_a_session_cannot_be_reset_over_http(stack):
    import httpx

    response = httpx.post(f"{get_settings().restate_ingress_url}/Chat/{new_id('s')}/reset", timeout=10)
    assert response.status_code == 404, response.text


def test_chat_record_without_key_is_a_dead_letter(stack):
    with result_reader("chat") as reader:
        partition, offset = produce(request_topic("chat"), {"message": "who am I?"})
        reader.collect(
            lambda seen: any(
                r["value"].get("source", {}).get("offset") == offset
                and r["value"]["source"]["partition"] == partition
                and "error" in r["value"]
                for r in seen
            )
        )
    letter = next(
        r["value"]
        for r in reader.seen
        if "error" in r["value"]
        and r["value"]["source"]["offset"] == offset
        and r["value"]["source"]["partition"] == partition
    )
    assert "no key" in letter["error"] and letter["source"]["topic"] == request_topic("chat")
