"""Finding a request's invocation by its id (producers/invocations.py): the claim names it."""

from __future__ import annotations

import json

import pytest

from handlers.catalog import PATTERNS
from producers import invocations


@pytest.fixture
def answers(monkeypatch):
    """Record the SQL sent and answer from a list of row lists, in order."""
    sent: list[str] = []
    replies: list[list[dict]] = []

    def query(sql: str, timeout: float | None = None) -> list[dict]:
        sent.append(sql)
        return replies.pop(0) if replies else []

    monkeypatch.setattr(invocations, "query", query)
    return sent, replies


def test_the_claims_of_every_pattern_are_asked_for(answers):
    sent, replies = answers
    replies.append([{"value_utf8": json.dumps({"fingerprint": "f", "invocation_id": "inv_1"})}])
    assert invocations.claimed_invocations("q3'report") == ["inv_1"]
    [sql] = sent
    assert "service_name = 'RequestIds'" in sql and "key = 'first'" in sql
    for name, pattern in PATTERNS.items():
        if pattern.keyed:  # chat: in the session's own state, whichever session it is
            assert f"(service_name = '{pattern.service}' AND key IN ('request-id:q3''report'))" in sql
        else:
            assert f"'{name}:q3''report'" in sql  # quoted, so an id cannot end the literal


def test_claims_without_an_invocation_or_not_json_are_skipped(answers):
    _sent, replies = answers
    replies.append(
        [
            {"value_utf8": json.dumps({"fingerprint": "f"})},  # written before claims named the invocation
            {"value_utf8": "not json"},
            {"value_utf8": json.dumps([1, 2])},
            {},
        ]
    )
    assert invocations.claimed_invocations("r-1") == []


def test_the_claimed_invocation_or_the_idempotency_key_finds_it(answers):
    sent, replies = answers
    replies.append([{"value_utf8": json.dumps({"fingerprint": "f", "invocation_id": "inv_9"})}])
    replies.append([{"id": "inv_9", "status": "running"}])
    assert invocations.find_invocation("r-2") == {"id": "inv_9", "status": "running"}
    assert "idempotency_key = 'r-2' OR id IN ('inv_9')" in sent[1]


def test_without_a_claim_only_the_idempotency_key_is_asked(answers):
    sent, _replies = answers
    assert invocations.find_invocation("http-1") is None
    assert sent[1].count("idempotency_key = 'http-1'") == 1 and " id IN " not in sent[1]


def test_several_ids_of_chosen_patterns_are_asked_at_once(answers):
    sent, replies = answers
    replies.append([{"value_utf8": json.dumps({"fingerprint": "f", "invocation_id": f"inv_{i}"})} for i in (1, 2)])
    assert invocations.claimed_invocations("a", "b", patterns=("chaining",)) == ["inv_1", "inv_2"]
    assert "service_key IN ('chaining:a', 'chaining:b')" in sent[0]


def test_no_ids_ask_nothing(answers):
    sent, _replies = answers
    assert invocations.claimed_invocations() == [] and sent == []
