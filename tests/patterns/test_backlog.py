"""A backlog larger than Restate's invoker slots drains without waiting out an inactivity timeout.

Restate runs at most ``restate_invoker_limit`` invocations per partition (the suite runs it
low, tests/conftest.py); the rest wait their turn. An invocation that waits for another one
keeps its slot, so if every slot were held by records waiting for their request-id claims,
nothing would move until restate-server's inactivity timeout (a minute) suspended them. The
burst below is several times the slots, of three kinds: requests handed on to their claims,
chat messages claimed in their sessions, and requests that call remote agents.
"""

from __future__ import annotations

import json
import time

from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic, request_topic
from tests.kafka_io import new_id, producer, result_reader, results_for

# Well under restate-server's inactivity timeout (1m): one round of slots stuck waiting fails it.
DRAIN_SECONDS = 45


def burst(records: list[tuple[str, dict, str | None]]) -> None:
    """Produce every record at once, then wait for the broker to have them all."""
    p = producer()
    for pattern, body, key in records:
        p.produce(request_topic(pattern), value=json.dumps(body).encode(), key=key)
    assert p.flush(30) == 0


def test_a_burst_of_several_times_the_invoker_slots_drains_in_order(stack):
    settings = get_settings()
    slots = settings.restate_invoker_limit * settings.restate_partitions
    assert slots <= 64, "the suite runs Restate with few slots, or this burst proves nothing"
    chain_ids = [new_id("backlog") for _ in range(3 * slots)]
    routing_ids = [new_id("backlog-remote") for _ in range(slots)]
    sessions = [new_id("backlog-chat") for _ in range(slots // 4)]
    chat = [(session, turn, new_id("backlog-msg")) for session in sessions for turn in range(4)]
    conflicting = chain_ids[0]

    records: list[tuple[str, dict, str | None]] = []
    records += [
        ("chaining", {"request_id": rid, "message": f"Quarter {i}: revenue up."}, None)
        for i, rid in enumerate(chain_ids)
    ]
    records += [
        ("remote-agent-routing", {"request_id": rid, "message": "How do I reset my password?"}, None)
        for rid in routing_ids
    ]
    records += [("chat", {"request_id": rid, "message": f"message {turn}"}, session) for session, turn, rid in chat]
    # A repeat and a conflict of one id, inside the burst: still one result, and one dead letter.
    records += [("chaining", {"request_id": chain_ids[1], "message": "Quarter 1: revenue up."}, None)]
    records += [("chaining", {"request_id": conflicting, "message": "another body"}, None)]

    everything = [*chain_ids, *routing_ids, *(rid for _s, _t, rid in chat)]
    with result_reader("chaining", "remote-agent-routing", "chat") as reader:
        started = time.monotonic()
        burst(records)

        def drained(seen: list[dict]) -> bool:
            return len(results_for(seen, everything)) == len(everything) and bool(conflict_letters(seen, conflicting))

        reader.collect(drained, timeout=DRAIN_SECONDS)
        took = time.monotonic() - started
        seen = reader.read_to_current_end()

    results = [r["value"] for r in seen if isinstance(r["value"], dict) and r["value"].get("request_id") in everything]
    assert sorted(r["request_id"] for r in results) == sorted(everything), "exactly one result per request"
    assert all(r["status"] == "ok" for r in results), [r for r in results if r["status"] != "ok"][:3]
    # Each session's messages ran in topic order: the n-th message is the session's turn n.
    by_id = {r["request_id"]: r for r in results}
    for _session, turn, rid in chat:
        assert f"Turn {turn + 1}" in by_id[rid]["output"], by_id[rid]["output"]
    assert took < DRAIN_SECONDS
    [letter] = conflict_letters(seen, conflicting)
    assert "already used by a different chaining request" in letter["error"]


def conflict_letters(seen: list[dict], request_id: str) -> list[dict]:
    return [
        r["value"]
        for r in seen
        if r["topic"] == dead_letters_topic()
        and isinstance(r["value"], dict)
        and repr(request_id) in r["value"]["error"]
    ]
