"""librdkafka security options reach every Kafka client of agentpipe, and Restate's Kafka ingress.

A second broker accepts clients only over SASL/SCRAM; each client must get through with
AGENTPIPE_KAFKA_OPTIONS and must not without them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agentpipe.kafka_publisher import KafkaPublisher
from agentpipe.settings import get_settings
from agentpipe.topics import request_topic, result_topic
from handlers.catalog import PATTERNS
from producers.broker import Publisher, TopicReader, cluster_metadata
from producers.errors import Unreachable
from subscriptions.desired import pattern_intake, to_intake
from subscriptions.kafka_topics import desired_topics, ensure_topics
from subscriptions.restate_admin import admin_client, ensure_kafka_cluster, subscription_options
from tests.kafka_io import new_id, result_reader, wait_for_results
from tests.security import sasl_broker

# A broker of its own (Java) for every test here; some use the session's stack too.
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    try:
        secured = sasl_broker.start(tmp_path_factory.mktemp("sasl-kafka"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield secured
    secured.stop()


@contextmanager
def kafka_env(broker, options: dict[str, str], **extra: str):
    """Settings pointed at the secured broker with ``options``; the session's settings come back after."""
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AGENTPIPE_KAFKA_BOOTSTRAP", broker.bootstrap)
            mp.setenv("AGENTPIPE_KAFKA_OPTIONS", json.dumps(options))
            for name, value in extra.items():
                mp.setenv(name, value)
            get_settings.cache_clear()
            yield get_settings()
    finally:
        get_settings.cache_clear()


def read_back(topic: str, request_id: str) -> dict:
    """The record with this request id, read from the beginning with the CLI's reader."""
    with TopicReader.open([topic], from_beginning=True) as reader:
        values = [r.json() for r in reader.read_available(stall_timeout=20)]
    found = [v for v in values if isinstance(v, dict) and v.get("request_id") == request_id]
    assert found, f"{request_id} not on {topic}; saw {len(values)} records"
    return found[0]


@pytest.mark.parametrize("password", [None, "wrong"], ids=["no-options", "wrong-password"])
def test_the_client_listener_refuses_clients_without_valid_credentials(broker, password):
    options = {**broker.options, "sasl.password": password} if password else {}
    with kafka_env(broker, options), pytest.raises(Unreachable):
        cluster_metadata(timeout=5)


def test_agentpipe_clients_use_the_options(broker):
    with kafka_env(broker, broker.options):
        ensure_topics(timeout=30)
        assert set(desired_topics()) <= set(cluster_metadata().topics)

        # The CLI's library: Publisher, then TopicReader.
        request_id = new_id("sasl-publisher")
        publisher = Publisher()
        publisher.publish(request_topic("chaining"), {"request_id": request_id, "message": "Revenue grew by 12%."})
        publisher.flush()
        assert read_back(request_topic("chaining"), request_id)["message"] == "Revenue grew by 12%."

        # The agent service's producer, with only the bootstrap given explicitly.
        result_id = new_id("sasl-service")
        producer = KafkaPublisher(bootstrap=broker.bootstrap)
        try:
            result = {"request_id": result_id, "status": "ok"}
            asyncio.run(producer.publish(result_topic("chaining"), result_id, result))
        finally:
            producer.close()
        assert read_back(result_topic("chaining"), result_id)["status"] == "ok"

        # The real CLI in its own process, configured by environment only.
        cli_id = new_id("sasl-cli")
        sent = subprocess.run(
            [str(Path(sys.executable).parent / "agentpipe"), "send", "chaining", "--request-id", cli_id],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip() == cli_id
        assert broker.password not in sent.stdout + sent.stderr
        read_back(request_topic("chaining"), cli_id)


@pytest.fixture(scope="module")
def restate_clusters(stack, broker):
    """Two Kafka clusters in the session's Restate, both on the secured broker: "secured" with the
    options (subscribed to chaining requests), "secured-noauth" without (subscribed to tool-routing)."""
    subscriptions, clusters = [], []
    with admin_client() as admin:
        try:
            with kafka_env(broker, broker.options):
                ensure_topics(timeout=30)
            for name, options, pattern in (
                ("secured", broker.options, "chaining"),
                ("secured-noauth", {}, "tool-routing"),
            ):
                with kafka_env(broker, options, AGENTPIPE_RESTATE_KAFKA_CLUSTER=name):
                    clusters.append(ensure_kafka_cluster())  # the code under test builds the properties
                    subscription = to_intake(request_topic(pattern), pattern_intake(PATTERNS[pattern]))
                    created = admin.post(
                        "/subscriptions",
                        json={
                            "source": subscription.source,
                            "sink": subscription.sink,
                            "options": subscription_options(subscription),
                        },
                    )
                assert created.status_code < 300, created.text
                subscriptions.append(created.json()["id"])
            yield clusters
        finally:
            # A cluster cannot be deleted while subscriptions still use it.
            failed = [
                r.text
                for r in [admin.delete(f"/subscriptions/{s}") for s in subscriptions]
                + [admin.delete(f"/kafka-clusters/{c}") for c in clusters]
                if r.status_code >= 300
            ]
            assert not failed, failed


def send_secured(broker, pattern: str) -> str:
    with kafka_env(broker, broker.options):
        request_id = new_id(f"sasl-{pattern}")
        publisher = Publisher()
        publisher.publish(request_topic(pattern), {"request_id": request_id})
        publisher.flush()
    return request_id


def test_restate_ingress_reads_the_secured_broker_only_with_the_options(restate_clusters, broker):
    # Results come out on the session stack's own (plaintext) broker.
    with result_reader("chaining", "tool-routing") as reader:
        secured_id = send_secured(broker, "chaining")
        noauth_id = send_secured(broker, "tool-routing")
        result = wait_for_results("chaining", [secured_id], reader, timeout=120)[secured_id]["value"]
        assert (result["request_id"], result["status"]) == (secured_id, "ok"), result
        # Restate was consuming the whole time (the result above): the cluster without the options
        # still delivers nothing.
        with pytest.raises(TimeoutError):
            wait_for_results("tool-routing", [noauth_id], reader, timeout=15)


def test_the_password_is_in_no_log_and_not_in_the_admin_api(restate_clusters, broker):
    logs = list((get_settings().state_dir / "logs").glob("*.log"))
    assert len(logs) >= 5, logs
    leaked = [log.name for log in logs if broker.password in log.read_text(errors="replace")]
    assert not leaked, f"sasl.password in {leaked}"
    listed = httpx.get(f"{get_settings().restate_admin_url}/kafka-clusters", timeout=10)
    listed.raise_for_status()
    clusters = {c["name"]: c["properties"] for c in listed.json()["clusters"]}
    # The options were registered (Restate shows sasl.username and sasl.password as "***").
    assert clusters["secured"]["sasl.mechanism"] == "SCRAM-SHA-256", listed.text
    assert "sasl.password" in clusters["secured"] and "sasl.password" not in clusters["secured-noauth"]
    assert broker.password not in listed.text, "Restate's admin API shows sasl.password"
