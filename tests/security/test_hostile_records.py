"""Hostile records through Kafka: each becomes a dead letter (or a documented result) within 30 s,
and the next record on the same key and partition is still processed.

Every case is produced with a key and an explicit partition, then followed by a
valid request on that same key and partition. A case "gets stuck" when either
its own outcome or its follower's result does not arrive in time.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic, approvals_topic, dead_letters_topic, request_topic, result_topic
from tests.kafka_io import TopicReader, new_id, produce

DEADLINE_S = 30.0
DEAD_LETTER, OK = "dead letter", "ok"


@dataclass
class Case:
    name: str
    pattern: str
    value: bytes | None
    expect: str  # DEAD_LETTER or OK
    error_contains: str = ""
    key: bytes | None = None  # default: a fresh text key
    follower_ok: bool = True  # False: the follower on the same key is refused the same way (and not stuck)


def padded_request(size: int) -> bytes:
    """A valid chaining request of exactly ``size`` bytes."""
    head, tail = b'{"message": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def request_cases() -> list[Case]:
    limit = get_settings().max_record_bytes
    deep = b'{"message": "x", "deep": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    cases = [
        Case("deep nesting", "chaining", deep, DEAD_LETTER, "nested too deeply"),
        Case("deep nesting (chat)", "chat", deep, DEAD_LETTER, "nested too deeply"),
        Case(
            "huge integer", "chaining", b'{"message": "x", "n": ' + b"9" * 5000 + b"}", DEAD_LETTER, "cannot be decoded"
        ),
        Case("huge integer (chat)", "chat", b'{"n": ' + b"7" * 5000 + b"}", DEAD_LETTER, "cannot be decoded"),
        Case("lone surrogate", "chaining", b'{"message": "\\ud800"}', DEAD_LETTER, "lone surrogate"),
        Case("lone surrogate (chat)", "chat", b'{"message": "a\\udfffb"}', DEAD_LETTER, "lone surrogate"),
        Case("surrogate as UTF-8 bytes", "chaining", b'{"message": "\xed\xa0\x80"}', DEAD_LETTER, "not valid UTF-8"),
        Case("invalid UTF-8", "chaining", b'{"message": "\xff\xfe"}', DEAD_LETTER, "not valid UTF-8"),
        Case("NaN", "chaining", b'{"message": "x", "n": NaN}', DEAD_LETTER, "NaN is not allowed"),
        Case("Infinity", "chaining", b'{"message": "x", "n": -Infinity}', DEAD_LETTER, "-Infinity is not allowed"),
        Case("duplicate keys", "chaining", b'{"message": "a", "message": "b"}', DEAD_LETTER, "duplicate key"),
        Case("duplicate keys (chat)", "chat", b'{"reset": false, "reset": true}', DEAD_LETTER, "duplicate key"),
        Case("JSON array", "chaining", b"[1, 2]", DEAD_LETTER, "must be a JSON object"),
        Case("JSON null", "chaining", b"null", DEAD_LETTER, "must be a JSON object"),
        Case("0-byte value (runs the example)", "chaining", b"", OK),
        Case("no value at all (runs the example)", "chaining", None, OK),
        Case("exactly at the size limit", "chaining", padded_request(limit), OK),
        Case("one byte over the size limit", "chaining", padded_request(limit + 1), DEAD_LETTER, "over the limit"),
        Case(
            "900 KiB (its dead letter carries the start)",
            "chaining",
            padded_request(900 * 1024),
            DEAD_LETTER,
            "over the limit",
        ),
        Case(
            "control characters in a chat key",
            "chat",
            b'{"message": "hi"}',
            OK,
            key=b"s-\x00\x01\n\t\x1b[31m-" + new_id().encode(),
        ),
        Case(
            "invalid UTF-8 chat key",
            "chat",
            b'{"message": "hi"}',
            DEAD_LETTER,
            "not valid UTF-8",
            key=b"s-\xff\xfe-" + new_id().encode(),
            follower_ok=False,
        ),
    ]
    wrong_types = {
        "chaining": {"request_id": 5, "message": 5, "replay_of": 5, "source": "here"},
        "tool-routing": {"user_id": 5, "message": ["a"]},
        "human-in-the-loop": {"content": 5, "review_timeout_s": "soon"},
        "chat": {"message": {"text": "hi"}, "reset": "maybe"},
    }
    for pattern, fields in wrong_types.items():
        for field, bad in fields.items():
            cases.append(
                Case(f"wrong type: {pattern}.{field}", pattern, json.dumps({field: bad}).encode(), DEAD_LETTER, field)
            )
    cases += [
        Case("empty request id", "chaining", b'{"request_id": ""}', DEAD_LETTER, "request_id"),
        Case(
            "overlong request id", "chaining", json.dumps({"request_id": "r" * 300}).encode(), DEAD_LETTER, "request_id"
        ),
        Case(
            "negative review timeout", "human-in-the-loop", b'{"review_timeout_s": -1}', DEAD_LETTER, "review_timeout_s"
        ),
    ]
    return cases


def test_hostile_request_records_never_block_their_key(stack):
    cases = request_cases()
    topics = [dead_letters_topic(), *{result_topic(c.pattern) for c in cases}]
    with TopicReader.open(topics) as reader:
        sent = []
        for n, case in enumerate(cases):
            key = case.key or new_id("hostile").encode()
            partition = n % get_settings().request_partitions
            started = time.monotonic()
            coordinates = produce(request_topic(case.pattern), case.value, key=key, partition=partition)
            follower = new_id("after")
            follower_at = produce(
                request_topic(case.pattern),
                {"request_id": follower, "message": "next in line"},
                key=key,
                partition=partition,
            )
            if not case.follower_ok:
                follower = (request_topic(case.pattern), *follower_at)  # its own dead letter is its outcome
            sent.append((case, (request_topic(case.pattern), *coordinates), follower, started))

        def outcome(source: tuple) -> dict | None:
            for record in reader.seen:
                value = record["value"]
                if (
                    isinstance(value, dict)
                    and value.get("source")
                    and (value["source"]["topic"], value["source"]["partition"], value["source"]["offset"]) == source
                ):
                    return value
            return None

        def follower_result(follower: str | tuple) -> dict | None:
            if isinstance(follower, tuple):
                letter = outcome(follower)
                return letter and {"status": "ok" if "payload_base64" in letter else "not a dead letter"}
            return next(
                (
                    r["value"]
                    for r in reader.seen
                    if isinstance(r["value"], dict)
                    and r["value"].get("request_id") == follower
                    and "status" in r["value"]
                ),
                None,
            )

        deadline = max(started for *_, started in sent) + DEADLINE_S
        with contextlib.suppress(TimeoutError):  # what did not arrive is reported below, case by case
            reader.collect(
                lambda _seen: all(outcome(s) and follower_result(f) for _c, s, f, _t in sent),
                timeout=max(deadline - time.monotonic(), 1.0),
            )
    stuck, wrong = [], []
    for case, source, follower, _started in sent:
        got, after = outcome(source), follower_result(follower)
        if got is None or after is None or after["status"] != "ok":
            stuck.append(f"{case.name}: outcome={bool(got)} follower={after and after['status']}")
            continue
        if case.expect == DEAD_LETTER:
            if "payload_base64" not in got or case.error_contains not in got["error"]:
                wrong.append(f"{case.name}: expected a dead letter about {case.error_contains!r}, got {got}")
            elif got["payload_bytes"] != len(case.value or b"") or got["payload_truncated"] != (
                len(case.value or b"") > get_settings().dead_letter_payload_bytes
            ):
                wrong.append(
                    f"{case.name}: the letter misstates the payload: {got['payload_bytes']}, "
                    f"truncated={got['payload_truncated']}"
                )
        elif got.get("status") != "ok":
            wrong.append(f"{case.name}: expected an ok result, got {got}")
    print(f"\nhostile request records: {len(cases)} kinds tried, {len(stuck)} stuck")
    assert not stuck, f"{len(stuck)} of {len(cases)} hostile records got stuck: {stuck}"
    assert not wrong, wrong


def _pending_approvals(count: int) -> list[tuple[str, str]]:
    """(request id, approval id) of ``count`` human-in-the-loop requests now waiting for a person."""
    with TopicReader.open([approval_requests_topic()]) as reader:
        ids = [new_id("hostile-hitl") for _ in range(count)]
        for request_id in ids:
            produce(
                request_topic("human-in-the-loop"),
                {"request_id": request_id, "content": "A borderline joke; might be satire."},
            )
        reader.collect(lambda seen: {r["value"]["request_id"] for r in seen} >= set(ids))
        by_request = {r["value"]["request_id"]: r["value"]["approval_id"] for r in reader.seen}
    return [(request_id, by_request[request_id]) for request_id in ids]


def test_hostile_approval_events_change_nothing_and_the_real_decision_still_applies(stack):
    secret = get_settings().approval_secret
    (first_request, first), (second_request, second) = _pending_approvals(2)

    def event(approval_id: str, signature: str | None, decision: str = "approved") -> bytes:
        return json.dumps(
            {"approval_id": approval_id, "decision": decision, "reviewer": "mallory", "signature": signature},
            ensure_ascii=False,
        ).encode()

    valid = approval_signature(secret, first, "approved")
    hostile = [
        ("non-ASCII signature", first, event(first, "é" * 64), "64 hex characters"),
        ("overlong signature", first, event(first, valid * 100), "64 hex characters"),
        (
            "signature of another approval",
            first,
            event(first, approval_signature(secret, second, "approved")),
            "signature is invalid",
        ),
        ("decision for an approval of another request", second, event(first, valid), "not the approval id"),
        ("deep nesting", first, b'{"approval_id": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
        ("huge integer", first, b'{"approval_id": ' + b"1" * 5000 + b"}", "cannot be decoded"),
        ("lone surrogate", first, b'{"approval_id": "\\ud800", "decision": "approved"}', "lone surrogate"),
        ("unknown decision", first, b'{"approval_id": "x", "decision": "maybe"}', "decision"),
    ]
    bad_key = [("invalid UTF-8 key", b"approval-\xff", event(first, valid), "not valid UTF-8")]
    topics = [dead_letters_topic(), result_topic("human-in-the-loop")]
    with TopicReader.open(topics) as reader:
        started = time.monotonic()
        sent = [
            (name, produce(approvals_topic(), value, key=key), error) for name, key, value, error in hostile + bad_key
        ]
        # The real decisions come last, on the same keys: the first signed in upper-case hex.
        produce(approvals_topic(), event(first, valid.upper()), key=first)
        produce(
            approvals_topic(), event(second, approval_signature(secret, second, "rejected"), "rejected"), key=second
        )

        def letter(coordinates):
            return next(
                (
                    r["value"]
                    for r in reader.seen
                    if r["topic"] == dead_letters_topic()
                    and (r["value"]["source"]["partition"], r["value"]["source"]["offset"]) == coordinates
                ),
                None,
            )

        def result(request_id):
            return next(
                (
                    r["value"]
                    for r in reader.seen
                    if r["topic"] == result_topic("human-in-the-loop") and r["value"]["request_id"] == request_id
                ),
                None,
            )

        reader.collect(
            lambda _seen: all(letter(c) for _n, c, _e in sent) and result(first_request) and result(second_request),
            timeout=DEADLINE_S,
        )
        elapsed = time.monotonic() - started
    for name, coordinates, error in sent:
        assert error in letter(coordinates)["error"], (name, letter(coordinates))
    assert result(first_request)["status"] == "ok" and result(first_request)["output"].startswith("approved by mallory")
    assert result(second_request)["status"] == "rejected"
    print(f"\nhostile approval events: {len(sent)} kinds tried, 0 stuck, all settled in {elapsed:.1f}s")
