"""Create every topic of the contract (docs/contract.md) that is missing (``create_topics`` does the same for any
other topics, e.g. the benchmark's); existing topics are left as they are."""

from __future__ import annotations

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from agentpipe.gated import gated_topic, is_gated
from agentpipe.kafka_config import client_config
from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic, approvals_topic, dead_letters_topic
from subscriptions.desired import gated_topics, request_topics, result_topics

# What a gated copy adds to its original: the line naming it (agentpipe/gated.py).
ENVELOPE_BYTES = 1024


def desired_topics() -> dict[str, int]:
    """Topic name → partition count. Request topics are partitioned for parallelism."""
    settings = get_settings()
    topics = {topic: settings.request_partitions for topic in request_topics()}
    for topic in [*result_topics(), approval_requests_topic(), approvals_topic(), dead_letters_topic()]:
        topics[topic] = 1 if topic != approvals_topic() else settings.request_partitions
    for topic in gated_topics():
        topics[gated_topic(topic)] = settings.request_partitions
    return topics


def input_topics() -> list[str]:
    """The topics Restate's subscriptions read: what outsiders write."""
    return [*request_topics(), approvals_topic()]


def topic_config(topic: str) -> dict[str, str]:
    """Input topics store records uncompressed: a small compressed batch could otherwise unpack
    into a record larger than any consumer expects (and Restate's ingress stops at such a record)."""
    settings = get_settings()
    limit = settings.kafka_max_message_bytes + (ENVELOPE_BYTES if is_gated(topic) else 0)
    config = {"max.message.bytes": str(limit)}
    if settings.kafka_replication > 1:
        # acks=all then waits for two copies: a record survives the loss of any one broker.
        config["min.insync.replicas"] = str(settings.kafka_replication - 1)
    return {**config, "compression.type": "uncompressed"} if topic in input_topics() else config


def ensure_topics(bootstrap: str | None = None, timeout: float = 30.0) -> list[str]:
    """Create the contract's missing topics. Returns the topics it created."""
    return create_topics(desired_topics(), bootstrap, timeout)


def create_topics(wanted: dict[str, int], bootstrap: str | None = None, timeout: float = 30.0) -> list[str]:
    """Create the topics of ``wanted`` (name → partition count) that are missing, with ``topic_config``, and wait
    until each has partition leaders. Returns the topics it created; existing topics are left as they are."""
    admin = AdminClient(client_config(**({"bootstrap.servers": bootstrap} if bootstrap else {})))
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [
        NewTopic(name, partitions, get_settings().kafka_replication, config=topic_config(name))
        for name, partitions in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []
    created: list[str] = []
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent `up` created it
                raise
    _wait_for_leaders(admin, list(wanted), timeout)
    return created


def _wait_for_leaders(admin: AdminClient, topics: list[str], timeout: float) -> None:
    """New partitions take a moment to elect a leader (clients fail with NOT_LEADER until then) and,
    with replicas, for the followers to catch up: the stack is ready when every copy is in sync."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout).topics
        unready = [
            t
            for t in topics
            if t not in metadata
            or metadata[t].error
            or any(p.leader < 0 or len(p.isrs) < len(p.replicas) for p in metadata[t].partitions.values())
        ]
        if not unready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topics without a leader or in-sync replicas after {timeout:.0f}s: {', '.join(unready)}"
            )
        time.sleep(0.2)
