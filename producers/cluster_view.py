"""What the cluster looks like now: Restate nodes, Kafka brokers and partition leaders, which
Restate node consumes which partitions of each subscription's consumer group, and where the
backlog waits (on the topics and in the provider budgets: producers/flow_view.py; inside Restate,
invocations not started yet: producers/restate_queue.py).

Read-only, from the outside: the admin API and ingress health of each Restate node, the
brokers' metadata, the consumer groups of the subscriptions (subscriptions/desired.py) and
Restate's SQL introspection. Works on the single-node stack too (one node, one broker).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from agentpipe.kafka_config import client_config
from agentpipe.settings import CLUSTER_SIZE, get_settings
from producers.broker import QUIET
from producers.errors import ClientError
from producers.flow_view import BudgetView, TopicBacklog, budgets, topic_backlog
from producers.restate_queue import WaitingInvocations, waiting_invocations
from stack.probes import http_ok
from subscriptions.desired import desired_subscriptions, topic_readers


@dataclass(frozen=True)
class RestateNode:
    name: str
    admin_url: str
    ingress_url: str
    admin_ok: bool
    ingress_ok: bool

    @property
    def healthy(self) -> bool:
        return self.admin_ok and self.ingress_ok


@dataclass(frozen=True)
class TopicPartitions:
    topic: str
    partitions: int
    leaders: dict[int, int]  # broker id -> partitions it leads
    under_replicated: int  # partitions with fewer in-sync replicas than replicas
    leaderless: int


@dataclass(frozen=True)
class GroupAssignment:
    group: str
    topic: str
    state: str
    members: dict[str, list[int]]  # member (client id @ host) -> partitions of the topic it consumes


@dataclass
class ClusterView:
    topology: str
    nodes: list[RestateNode]
    brokers: dict[int, str]  # broker id -> host:port, the brokers that answer
    expected_brokers: int
    topics: list[TopicPartitions] = field(default_factory=list)
    groups: list[GroupAssignment] = field(default_factory=list)
    backlog: list[TopicBacklog] = field(default_factory=list)
    budgets: list[BudgetView] = field(default_factory=list)
    waiting: list[WaitingInvocations] = field(default_factory=list)  # inside Restate, not started yet
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return (
            all(node.healthy for node in self.nodes)
            and len(self.brokers) == self.expected_brokers
            and not any(t.leaderless or t.under_replicated for t in self.topics)
            and not self.problems
        )


def restate_nodes() -> list[RestateNode]:
    settings = get_settings()
    if settings.topology != "cluster":
        return [
            RestateNode(
                "restate",
                settings.restate_admin_url,
                settings.restate_ingress_url,
                http_ok(f"{settings.restate_admin_url}/health", timeout=2.0),
                http_ok(f"{settings.restate_ingress_url}/restate/health", timeout=2.0),
            )
        ]
    nodes = []
    for i in range(CLUSTER_SIZE):
        ingress, admin, _node = settings.restate_ports(i)
        admin_url, ingress_url = f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{ingress}"
        nodes.append(
            RestateNode(
                f"node-{i + 1}",
                admin_url,
                ingress_url,
                http_ok(f"{admin_url}/health", timeout=2.0),
                http_ok(f"{ingress_url}/restate/health", timeout=2.0),
            )
        )
    return nodes


def _member_name(member: object) -> str:
    """client id @ host, and the end of the member id: every Restate node's consumer is "restate"."""
    client_id = getattr(member, "client_id", "") or "?"
    host = (getattr(member, "host", "") or "?").lstrip("/")
    member_id = getattr(member, "member_id", "") or ""
    return f"{client_id}@{host}#{member_id[-6:]}"


def kafka_view(view: ClusterView, timeout: float) -> None:
    admin = AdminClient(client_config(logger=QUIET))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        view.problems.append(f"no broker answered at {get_settings().kafka_bootstrap}: {exc.args[0]}")
        return
    view.brokers = {b.id: f"{b.host}:{b.port}" for b in metadata.brokers.values()}
    subscriptions = desired_subscriptions()
    wanted = {s.topic for s in subscriptions}
    for name in sorted(t for t in metadata.topics if t in wanted or not t.startswith("__")):
        described = metadata.topics[name]
        parts = described.partitions.values()
        view.topics.append(
            TopicPartitions(
                name,
                len(described.partitions),
                dict(Counter(p.leader for p in parts if p.leader >= 0)),
                sum(1 for p in parts if len(p.isrs) < len(p.replicas)),
                sum(1 for p in parts if p.leader < 0),
            )
        )
    groups = {s.group_id: s.topic for s in subscriptions}
    try:
        futures = admin.describe_consumer_groups(list(groups), request_timeout=timeout)
    except KafkaException as exc:
        view.problems.append(f"consumer groups could not be described: {exc.args[0]}")
        return
    for group_id, future in futures.items():
        try:
            description = future.result()
        except KafkaException as exc:
            view.problems.append(f"group {group_id}: {exc.args[0]}")
            continue
        topic = groups[group_id]
        members = {
            _member_name(m): sorted(tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic)
            for m in description.members
        }
        state = description.state.name if isinstance(description.state, ConsumerGroupState) else str(description.state)
        view.groups.append(GroupAssignment(group_id, topic, state.lower(), members))
    view.backlog = topic_backlog(admin, topic_readers(), timeout)


def budget_view(view: ClusterView) -> None:
    try:
        view.budgets = budgets()
    except ClientError as exc:
        view.problems.append(f"provider budgets could not be read: {exc}")


def waiting_view(view: ClusterView) -> None:
    try:
        view.waiting = waiting_invocations()
    except ClientError as exc:
        view.problems.append(f"invocations waiting in Restate could not be read: {exc}")


def cluster_view(timeout: float = 5.0) -> ClusterView:
    settings = get_settings()
    topology = settings.topology or "single"
    view = ClusterView(topology, restate_nodes(), {}, CLUSTER_SIZE if topology == "cluster" else 1)
    kafka_view(view, timeout)
    budget_view(view)
    waiting_view(view)
    return view
