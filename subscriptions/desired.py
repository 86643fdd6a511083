"""The subscription map: which topic feeds which handler, derived from the pattern declarations.

Every request topic goes to its pattern service's private ``ingest`` handler,
which validates, dead-letters and de-duplicates, then runs the request in the
same invocation (handlers/intake.py); the approvals topic goes to the approval
intake. Topic creation (subscriptions/kafka_topics.py), the
subscription sync (subscriptions/restate_admin.py) and the topic gate (subscriptions/gate.py)
read this instead of spelling topic or service names themselves. Keyed intakes read the gated
copies of their topics: only what Restate can take in reaches them, in key order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentpipe.gated import gated_topic
from agentpipe.patterns import INGEST_HANDLER, PATTERNS, PatternSpec
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic, request_topic, result_topic


@dataclass(frozen=True)
class Intake:
    """A handler that subscriptions deliver raw records to (a pattern's ``ingest``, handlers/approvals.py)."""

    service: str
    keyed: bool  # a Virtual Object keyed by the record key: one key's records pass in topic order
    handler: str = "ingest"


APPROVAL_INTAKE = Intake("ApprovalIntake", keyed=True)


@dataclass(frozen=True)
class Subscription:
    topic: str
    service: str
    handler: str
    keyed: bool = False  # delivered to a Virtual Object: Restate turns the record key into the object key

    @property
    def source(self) -> str:
        return f"kafka://{get_settings().restate_kafka_cluster}/{self.topic}"

    @property
    def sink(self) -> str:
        return f"service://{self.service}/{self.handler}"

    @property
    def group_id(self) -> str:
        return subscription_group(self.topic)


def subscription_group(topic: str) -> str:
    """The consumer group of the subscription of ``topic``, named by us so that re-creating the
    subscription keeps its offsets."""
    return f"agentpipe-{get_settings().restate_kafka_cluster}-{topic}"


def gate_group() -> str:
    """The consumer group of the gate (subscriptions/gate.py) on the public keyed topics."""
    return f"agentpipe-{get_settings().restate_kafka_cluster}-gate"


def to_intake(topic: str, intake: Intake) -> Subscription:
    return Subscription(topic, intake.service, intake.handler, keyed=intake.keyed)


def pattern_intake(pattern: PatternSpec[Any]) -> Intake:
    """Where a pattern's request records go: its service's ingest (chat: keyed, so a session's records pass in order)."""
    return Intake(pattern.service, keyed=pattern.keyed, handler=INGEST_HANDLER)


def request_topics() -> list[str]:
    return [request_topic(name) for name in PATTERNS]


def result_topics() -> list[str]:
    return [result_topic(name) for name in PATTERNS]


def gated_topics() -> list[str]:
    """The public topics of keyed intakes: the gate (subscriptions/gate.py) copies what Restate can
    take of them to their gated topics, and Restate reads those."""
    return [*(request_topic(p.name) for p in PATTERNS.values() if p.keyed), approvals_topic()]


def desired_subscriptions() -> list[Subscription]:
    # Approvals are keyed by approval id, so decisions on one approval apply in topic order.
    subs = [
        to_intake(gated_topic(request_topic(p.name)) if p.keyed else request_topic(p.name), pattern_intake(p))
        for p in PATTERNS.values()
    ]
    subs.append(to_intake(gated_topic(approvals_topic()), APPROVAL_INTAKE))
    return subs


def topic_readers() -> list[tuple[str, str]]:
    """(topic, consumer group) of everything that takes the pipeline's input in: the gate on the
    public keyed topics, and Restate's subscriptions (the gated copies among them)."""
    gate = [(topic, gate_group()) for topic in gated_topics()]
    return gate + [(s.topic, s.group_id) for s in desired_subscriptions()]
