"""The one declarative map: which topic feeds which handler, and where results go.

Everything else (topic creation, subscription sync, the intake, the client)
reads names from here instead of spelling topic strings itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentpipe.settings import get_settings


@dataclass(frozen=True)
class Pattern:
    name: str  # as used on topics and in the CLI: "tool-routing"
    service: str  # Restate service name users know from the public examples
    handler: str
    keyed: bool = False  # Virtual Object keyed by the record key (chat)


PATTERNS: dict[str, Pattern] = {
    p.name: p
    for p in [
        Pattern("chaining", "CallChainingService", "run"),
        Pattern("tool-routing", "ToolRouterService", "route"),
        Pattern("parallel-tools", "ParallelToolAgent", "run"),
        Pattern("agent-routing", "AgentRouterService", "route"),
        Pattern("remote-agent-routing", "RemoteAgentRouterService", "route"),
        Pattern("parallel-agents", "ParallelAgentsService", "analyze_text"),
        Pattern("orchestrator", "Orchestrator", "process_text"),
        Pattern("evaluator-optimizer", "EvaluatorOptimizer", "improve_until_good"),
        Pattern("human-in-the-loop", "HumanInTheLoopService", "moderate"),
        Pattern("chat", "Chat", "message", keyed=True),
    ]
}

# Intake handlers that the subscriptions deliver raw records to (see handlers/intake.py).
REQUEST_INTAKE = ("RequestIntake", "ingest")
CHAT_INTAKE = ("ChatIntake", "ingest")
APPROVAL_INTAKE = ("ApprovalIntake", "ingest")


def _prefix() -> str:
    return get_settings().topic_prefix


def request_topic(pattern: str) -> str:
    return f"{_prefix()}requests.{PATTERNS[pattern].name}"


def result_topic(pattern: str) -> str:
    return f"{_prefix()}results.{PATTERNS[pattern].name}"


def approval_requests_topic() -> str:
    return f"{_prefix()}approval-requests"


def approvals_topic() -> str:
    return f"{_prefix()}approvals"


def dead_letters_topic() -> str:
    return f"{_prefix()}dead-letters"


def pattern_for_request_topic(topic: str) -> Pattern | None:
    for pattern in PATTERNS.values():
        if request_topic(pattern.name) == topic:
            return pattern
    return None


def request_topics() -> list[str]:
    return [request_topic(p) for p in PATTERNS]


def result_topics() -> list[str]:
    return [result_topic(p) for p in PATTERNS]


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
        """The consumer group, named by us so that re-creating the subscription keeps its offsets."""
        return f"agentpipe-{get_settings().restate_kafka_cluster}-{self.topic}"


def desired_subscriptions() -> list[Subscription]:
    """Every request topic goes to an intake that validates, dead-letters and deduplicates."""
    subs = []
    for pattern in PATTERNS.values():
        service, handler = CHAT_INTAKE if pattern.keyed else REQUEST_INTAKE
        subs.append(Subscription(request_topic(pattern.name), service, handler, keyed=pattern.keyed))
    # Keyed by approval id, so decisions on one approval are applied in topic order.
    subs.append(Subscription(approvals_topic(), *APPROVAL_INTAKE, keyed=True))
    return subs
