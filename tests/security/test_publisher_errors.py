"""The service's producer tells errors a retry can fix from those it cannot, and replaces itself
after a fatal error (an idempotent producer that lost its guarantees must not be used again)."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import KafkaError, KafkaException

from agentpipe import kafka_publisher
from agentpipe.kafka_publisher import KafkaPublisher, PermanentPublishError, get_publisher
from agentpipe.settings import get_settings

UNREACHABLE = "127.0.0.1:1"  # nothing is ever sent in these tests


@pytest.fixture
def publisher():
    producer = KafkaPublisher(bootstrap=UNREACHABLE)
    yield producer
    producer._stop.set()


def test_a_record_over_the_size_limit_is_permanent_before_anything_is_sent(publisher):
    too_large = {"output": "x" * get_settings().kafka_max_message_bytes}
    with pytest.raises(PermanentPublishError, match="over the limit"):
        asyncio.run(publisher.publish("agent.results.chaining", "k", too_large))


def test_a_value_that_cannot_be_encoded_is_permanent(publisher):
    with pytest.raises(PermanentPublishError, match="cannot be encoded"):
        asyncio.run(publisher.publish("agent.results.chaining", "k", {"output": "\ud800"}))


def test_broker_errors_are_sorted_into_transient_and_permanent(publisher):
    assert isinstance(publisher._failure(KafkaError(KafkaError._MSG_TIMED_OUT)), KafkaException)
    assert isinstance(publisher._failure(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)), PermanentPublishError)
    assert not publisher.broken


def test_a_fatal_error_retires_the_producer(monkeypatch):
    monkeypatch.setenv("AGENTPIPE_KAFKA_BOOTSTRAP", UNREACHABLE)
    get_settings.cache_clear()
    monkeypatch.setattr(kafka_publisher, "_publisher", None)
    try:
        first = get_publisher()
        assert get_publisher() is first
        first._failure(KafkaError(KafkaError._FATAL, "idempotence lost", fatal=True))
        assert first.broken
        second = get_publisher()
        assert second is not first and not second.broken
        second._stop.set()
    finally:
        get_settings.cache_clear()
