"""Where the backlog waits: on the input topics (records the gate or Restate's subscriptions have not
taken in yet) and in the provider budgets (calls and parked requests waiting for a permit).

Read from the outside: each subscription's consumer group's committed offsets (through a consumer of
the group that does not join it) against the topics' ends (Kafka's admin API), and each
``ProviderBudget`` object's state through Restate's SQL introspection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from pydantic import ValidationError

from agentpipe.flow import BUDGET_STATE, PROVIDER_BUDGET, BudgetState
from agentpipe.group_offsets import committed_offsets
from producers.broker import QUIET
from producers.restate_sql import query, sql_literal


@dataclass(frozen=True)
class TopicBacklog:
    topic: str
    group: str
    waiting: int | None  # records after the group's committed offsets; None: not known
    problem: str | None = None


@dataclass(frozen=True)
class BudgetView:
    """One provider budget, as ``agentpipe status`` shows it."""

    key: str  # <provider>/<model>
    configured_requests_per_minute: float | None
    stated_requests_per_minute: float | None  # what the provider's headers said
    probed_requests_per_s: float | None  # a rate of its own, when the provider states none
    configured_tokens_per_minute: float | None
    stated_tokens_per_minute: float | None
    max_in_flight: int | None
    in_flight: int
    waiting: dict[str, int] = field(default_factory=dict)  # per queue: interactive, continuing, batch
    paused_for_s: float = 0.0
    granted: int = 0
    expired: int = 0
    rate_limited: int = 0
    updated_at: float = 0.0


def topic_backlog(admin: AdminClient, readers: list[tuple[str, str]], timeout: float) -> list[TopicBacklog]:
    """Per (topic, consumer group) of ``readers``: how many records wait on the topic for the group to
    take them in (after its committed offset; from the partition's start where it has committed none)."""
    backlog = []
    for topic, group in readers:
        try:
            metadata = admin.list_topics(topic, timeout=timeout).topics[topic]
            if metadata.error is not None:
                raise KafkaException(metadata.error)
            partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
            at = committed_offsets(group, partitions, timeout, logger=QUIET)
            ends = _offsets(admin, partitions, OffsetSpec.latest(), timeout)
            starts = _offsets(admin, partitions, OffsetSpec.earliest(), timeout)
            waiting = sum(ends[p] - max(at.get(p, -1), starts[p]) for p in ends)
            backlog.append(TopicBacklog(topic, group, waiting))
        except KafkaException as exc:
            backlog.append(TopicBacklog(topic, group, None, str(exc.args[0])))
    return backlog


def _offsets(admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec, timeout: float) -> dict[int, int]:
    answers = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout)
    return {tp.partition: future.result().offset for tp, future in answers.items()}


def budgets(now: float | None = None) -> list[BudgetView]:
    """Every provider budget Restate holds; an unreadable one is left out."""
    now = time.time() if now is None else now
    rows = query(
        f"SELECT service_key, value_utf8 FROM state WHERE service_name = {sql_literal(PROVIDER_BUDGET)} "
        f"AND key = {sql_literal(BUDGET_STATE)} ORDER BY service_key"
    )
    views = []
    for row in rows:
        try:
            state = BudgetState.model_validate_json(row.get("value_utf8") or "")
        except ValidationError:
            continue
        views.append(
            BudgetView(
                key=row["service_key"],
                configured_requests_per_minute=state.limits.requests_per_minute,
                stated_requests_per_minute=state.learned.requests_per_minute,
                probed_requests_per_s=state.learned.probed_per_s,
                configured_tokens_per_minute=state.limits.tokens_per_minute,
                stated_tokens_per_minute=state.learned.tokens_per_minute,
                max_in_flight=state.limits.max_in_flight,
                in_flight=len(state.in_flight),
                waiting={queue: ends.length for queue, ends in state.queues.items()},
                paused_for_s=max(0.0, state.paused_until - now),
                granted=state.granted,
                expired=state.expired,
                rate_limited=state.rate_limited,
                updated_at=state.updated_at,
            )
        )
    return views
