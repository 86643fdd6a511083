"""The gate's pure parts (subscriptions/gate.py): the copy's envelope and what it refuses."""

from __future__ import annotations

import json
import secrets

import pytest

from agentpipe.gated import gated_topic, unwrap, wrap
from agentpipe.messages import Source, approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic, request_topic
from subscriptions.gate import refusal


@pytest.fixture
def approval_key(monkeypatch):
    monkeypatch.setenv("AGENTPIPE_APPROVAL_KEY", secrets.token_hex(32))
    get_settings.cache_clear()
    return get_settings().approval_secret


@pytest.mark.parametrize("value", [b'{"message": "hi"}', b"", b"line one\nline two", "é\n".encode()])
def test_a_copy_names_its_original_and_keeps_its_value(value):
    source = Source(topic="agent.requests.chat", partition=3, offset=1_234_567)
    assert unwrap(wrap(source, value)) == (source, value)


def test_no_value_travels_as_an_empty_one():
    source = Source(topic="agent.approvals", partition=0, offset=0)
    assert unwrap(wrap(source, None)) == (source, b"")


@pytest.mark.parametrize("raw", [b'{"message": "hi"}', b"agentpipe-source: agent.approvals/0/0"])
def test_anything_else_is_not_a_copy(raw):
    with pytest.raises(ValueError):
        unwrap(raw)


def test_gated_topics_are_named_after_the_public_ones():
    assert gated_topic(request_topic("chat")) == request_topic("chat") + ".gated"


def test_a_key_restate_cannot_take_is_refused_on_any_keyed_topic():
    assert "not valid UTF-8" in (refusal(request_topic("chat"), b"s-\xff", b'{"message": "hi"}') or "")


def test_a_chat_record_with_a_text_key_passes_whatever_its_value():
    assert refusal(request_topic("chat"), b"session-1", b"not json") is None  # the intake's to refuse


def test_only_a_signed_decision_passes(approval_key):
    approval_id = "approval-1"

    def event(signature: str, key: bytes = b"approval-1") -> str | None:
        body = {"approval_id": approval_id, "decision": "approved", "reviewer": "ops", "signature": signature}
        return refusal(approvals_topic(), key, json.dumps(body).encode())

    signed = approval_signature(approval_key, approval_id, "approved")
    assert event(signed) is None
    assert event(signed.upper()) is None
    assert event("0" * 64) == "approval signature is invalid (approval 'approval-1')"
    assert "64 hex characters" in (event("é" * 64) or "")
    assert "is not the approval id" in (event(signed, key=b"approval-2") or "")
    assert "nested too deeply" in (refusal(approvals_topic(), b"a", b"[" * 5000 + b"]" * 5000) or "")


def test_a_record_too_large_for_its_gated_copy_is_refused():
    # Only a topic made with a larger max.message.bytes than the pipeline's holds one.
    limit = get_settings().kafka_max_message_bytes
    assert refusal(request_topic("chat"), b"s", b"x" * (limit - 1)) is None
    assert "more than the" in (refusal(request_topic("chat"), b"s", b"x" * limit) or "")
