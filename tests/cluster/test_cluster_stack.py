"""The cluster topology up and serving: every node answers, topics are replicated, every pattern
runs through Kafka, and calls are spread over the agent-service processes."""

from __future__ import annotations

import re
import time

from agentpipe.settings import CLUSTER_SIZE, get_settings
from handlers.catalog import PATTERNS
from producers.cluster_view import ClusterView, cluster_view
from tests.cli.cli_run import agentpipe, json_lines


def settled_view(timeout: float = 90.0) -> ClusterView:
    """The cluster once it has settled: replicas in sync, consumer groups past their first rebalance."""
    deadline = time.monotonic() + timeout
    while True:
        view = cluster_view()
        if (view.healthy and all(g.state == "stable" for g in view.groups)) or time.monotonic() > deadline:
            return view
        time.sleep(1.0)


def test_every_node_broker_and_partition_is_healthy(stack):
    view = settled_view()
    assert view.topology == "cluster"
    assert [n.name for n in view.nodes if n.healthy] == [f"node-{i + 1}" for i in range(CLUSTER_SIZE)]
    assert sorted(view.brokers) == [1, 2, 3]
    assert view.topics and not view.problems
    assert all(t.leaderless == 0 and t.under_replicated == 0 for t in view.topics), view.topics
    # Leadership of the request topics is spread over the brokers, not all on one.
    request_leaders = {b for t in view.topics if ".requests." in t.topic for b in t.leaders}
    assert len(request_leaders) > 1
    assert view.healthy


def test_topics_have_three_replicas_and_two_must_be_in_sync(stack):
    from confluent_kafka.admin import AdminClient, ConfigResource

    from agentpipe.kafka_config import client_config
    from producers.broker import QUIET

    admin = AdminClient(client_config(logger=QUIET))
    metadata = admin.list_topics(timeout=10)
    topic = f"{get_settings().topic_prefix}requests.chaining"
    assert all(len(p.replicas) == 3 for p in metadata.topics[topic].partitions.values())
    [config] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    assert config.result()["min.insync.replicas"].value == "2"


def test_the_cluster_command_reports_it(stack):
    settled_view()
    assert agentpipe("status", "--json").returncode == 0  # `status` alone is the same view
    proc = agentpipe("cluster", "--json")
    assert proc.returncode == 0, proc.stderr
    [view] = json_lines(proc.stdout)
    assert view["healthy"] is True and view["topology"] == "cluster"
    groups = {g["topic"]: g for g in view["groups"]}
    chaining = groups[f"{get_settings().topic_prefix}requests.chaining"]
    # Every Restate worker node is a member of each subscription's consumer group.
    assert chaining["state"] == "stable" and len(chaining["members"]) == CLUSTER_SIZE, chaining


def test_the_demo_runs_every_pattern_through_the_cluster(stack):
    proc = agentpipe("demo", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {m[1]: m[2] for m in re.finditer(r"^│ (\S+)\s+│ (\S+)\s+│", proc.stdout, re.MULTILINE)}
    assert rows == {pattern: "ok" for pattern in PATTERNS}, proc.stdout


def test_calls_are_spread_over_the_agent_service_processes(stack):
    """nginx spreads calls (HTTP/2 streams), not connections: every process serves some."""
    state = get_settings().state_dir
    served = {}
    for i in range(get_settings().cluster_agent_services):
        log = (state / "logs" / f"agent-service-{i + 1}.log").read_text()
        served[i + 1] = log.count("result published")
    assert all(count > 0 for count in served.values()), served
