"""The in-flight check with waiting approvals: N human-in-the-loop requests that all wait for a person.

Each request's content is one the offline model's moderator is unsure about, so it calls
the human review tool: the pattern's invocation waits on its ApprovalReview workflow,
which publishes the approval request and waits on its durable promise (two invocations
per request). Once Restate reports all N reviews waiting (their approval request published,
their invocation running or suspended), they stay so for a hold time while the sampler
records RSS; then every one is approved with a signed approval event through Kafka, as
`agentpipe approve` does, and the N results are awaited on the pattern's result topic.
Lost = N - results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress

from agentpipe import requests
from agentpipe.claim_keys import FIRST, REQUEST_IDS, claim_key
from agentpipe.topics import approvals_topic, request_topic, result_topic
from benchmarks import load, monitor
from handlers.catalog import PATTERNS
from handlers.review_call import REVIEW_HANDLER, REVIEW_SERVICE
from producers.approvals import signed_event
from producers.broker import Publisher

HITL = PATTERNS["human-in-the-loop"]
# The moderator of the offline model is unsure about it ("borderline", "might", "satire"): it asks a person.
CONTENT = requests.EXAMPLE_CONTENT
REVIEWER = "agentpipe-bench"
WAITING_STATUSES = ("running", "suspended")  # a review in either waits on its promise (or is about to)
POLL_S = 1.0


def fill_timeout(count: int) -> float:
    """How long N requests may take to all reach their review (the intake, one LLM call, the publish)."""
    return 120 + count / 20


def request_body(review_timeout_s: float) -> dict:
    # A review deadline of our own: if the run breaks off, what still waits ends by itself.
    return {"content": CONTENT, "review_timeout_s": round(review_timeout_s)}


def _ours(prefix: str) -> str:
    # The review keeps the request id in its state; ids of this check all start with the prefix.
    return f"r.value_utf8 LIKE '\"{prefix}-%'"


def reviews_query(prefix: str) -> str:
    """Invocation status → count of this check's reviews whose approval request is published."""
    return (
        "SELECT i.status AS status, count(*) AS n FROM sys_invocation i "
        "JOIN state r ON r.service_key = i.target_service_key "
        "JOIN state q ON q.service_key = i.target_service_key "
        f"WHERE i.target_service_name = '{REVIEW_SERVICE}' AND i.target_handler_name = '{REVIEW_HANDLER}' "
        f"AND r.service_name = '{REVIEW_SERVICE}' AND r.key = 'request_id' AND {_ours(prefix)} "
        f"AND q.service_name = '{REVIEW_SERVICE}' AND q.key = 'requested' "
        "GROUP BY i.status"
    )


def waiting_ids_query(prefix: str) -> str:
    """Approval ids of this check's reviews that wait for a decision."""
    statuses = ", ".join(f"'{s}'" for s in WAITING_STATUSES)
    return (
        "SELECT i.target_service_key AS approval_id FROM sys_invocation i "
        "JOIN state r ON r.service_key = i.target_service_key "
        "JOIN state q ON q.service_key = i.target_service_key "
        f"WHERE i.target_service_name = '{REVIEW_SERVICE}' AND i.target_handler_name = '{REVIEW_HANDLER}' "
        f"AND i.status IN ({statuses}) "
        f"AND r.service_name = '{REVIEW_SERVICE}' AND r.key = 'request_id' AND {_ours(prefix)} "
        f"AND q.service_name = '{REVIEW_SERVICE}' AND q.key = 'requested'"
    )


def pattern_query(prefix: str) -> str:
    """Invocation status → count of this check's human-in-the-loop invocations: the ones their request-id claims
    name (the claim's JSON ends in ``"invocation_id":"inv_…"``; split_part reads it inside Restate's SQL)."""
    invocation_id = "split_part(split_part(c.value_utf8, '\"invocation_id\":\"', 2), '\"', 1)"
    return (
        "SELECT i.status AS status, count(*) AS n FROM sys_invocation i "
        f"JOIN state c ON i.id = {invocation_id} "
        f"WHERE c.service_name = '{REQUEST_IDS}' AND c.key = '{FIRST}' "
        f"AND c.service_key LIKE '{claim_key(HITL.name, prefix)}-%' GROUP BY i.status"
    )


def by_status(rows: list[dict]) -> dict[str, int]:
    return {str(row["status"]): int(row["n"]) for row in rows}


def waiting(statuses: dict[str, int]) -> int:
    return sum(n for status, n in statuses.items() if status in WAITING_STATUSES)


def open_invocations(statuses: dict[str, int]) -> int:
    return sum(n for status, n in statuses.items() if status != "completed")


def approve(approval_ids: list[str]) -> None:
    """Signed approval events on the approvals topic, acknowledged by the broker (as `agentpipe approve` sends)."""
    with Publisher(timeout_s=60.0) as publisher:
        for approval_id in approval_ids:
            event = signed_event(approval_id, "approved", REVIEWER, "approved by the benchmark")
            publisher.publish(approvals_topic(), event, key=approval_id)
        publisher.flush()


async def _sql(query: str) -> list[dict]:
    return await asyncio.to_thread(monitor.sql, query, 30.0)


async def _approve_waiting(prefix: str, approved: set[str]) -> int:
    """Approve this check's waiting reviews not approved yet; how many were sent now."""
    ids = [row["approval_id"] for row in await _sql(waiting_ids_query(prefix))]
    fresh = [i for i in ids if i not in approved]
    if fresh:
        await asyncio.to_thread(approve, fresh)
        approved.update(fresh)
    return len(fresh)


async def in_flight(
    count: int,
    hold: float,
    sampler: monitor.ProcessSampler,
    id_prefix: str,
    say: Callable[[str], None],
) -> dict:
    settle = 120 + count / 20  # after the approvals, for the results
    request_timeout = fill_timeout(count) + hold + settle
    watcher = load.ResultWatcher([result_topic(HITL.name)], asyncio.get_running_loop())
    target = load.KafkaTarget("restate-kafka", request_topic(HITL.name), result_topic(HITL.name))
    rss_before = sampler.summary(time.monotonic() - 1.0, time.monotonic()).get("agent-service", {})
    approved: set[str] = set()
    max_waiting = max_open = 0
    statuses: dict[str, int] = {}
    pattern_statuses: dict[str, int] = {}
    all_waiting_at: float | None = None
    start = time.monotonic()
    burst = asyncio.create_task(
        load.burst(
            target,
            watcher,
            request_body(request_timeout + 60),
            count=count,
            id_prefix=id_prefix,
            request_timeout=request_timeout,
        )
    )

    async def look() -> None:
        nonlocal statuses, pattern_statuses, max_waiting, max_open
        try:
            statuses = by_status(await _sql(reviews_query(id_prefix)))
            pattern_statuses = by_status(await _sql(pattern_query(id_prefix)))
        except Exception as exc:  # noqa: BLE001 - introspection is best effort; the next look tries again
            say(f"  Restate SQL: {exc}")
            return
        max_waiting = max(max_waiting, waiting(statuses))
        max_open = max(max_open, open_invocations(pattern_statuses))

    try:
        deadline = start + fill_timeout(count)
        while time.monotonic() < deadline and not burst.done():
            await look()
            if waiting(statuses) >= count:
                all_waiting_at = time.monotonic()
                break
            await asyncio.sleep(POLL_S)
        if all_waiting_at is None:
            say(f"  only {waiting(statuses)}/{count} waiting after {time.monotonic() - start:.0f} s; approving those")
        else:
            say(f"  all {count} waiting after {all_waiting_at - start:.1f} s; holding {hold:g} s")
            hold_until = time.monotonic() + hold
            while time.monotonic() < hold_until:
                await asyncio.sleep(min(POLL_S, max(0.0, hold_until - time.monotonic())))
                await look()
        waiting_statuses, waiting_pattern = dict(statuses), dict(pattern_statuses)
        approve_at = time.monotonic()
        while not burst.done():
            # The first pass approves all that wait; later passes any that reached their review late.
            if len(approved) < count:
                try:
                    await _approve_waiting(id_prefix, approved)
                except Exception as exc:  # noqa: BLE001 - the next pass tries again; unapproved ones count as lost
                    say(f"  approving: {exc}")
            await asyncio.wait({burst}, timeout=POLL_S)
        driven = burst.result()
        end = time.monotonic()
    finally:
        if not burst.done():
            burst.cancel()
        with suppress(Exception):
            await _approve_waiting(id_prefix, approved)  # nothing of ours keeps waiting after a failure
        await target.close()
        watcher.close()
    everything = sampler.summary(start, end)
    while_waiting = sampler.summary(start, approve_at)
    seen = load.results_seen(driven.outcomes)
    summary = load.summarize(driven)
    after_approval = sorted(
        (o.done - approve_at) * 1000 for o in driven.outcomes if o.done is not None and o.done >= approve_at
    )
    result = {
        "kind": "approvals",
        "requests": count,
        "model_latency_ms": 0.0,
        "service": HITL.service,
        "invocations_per_request": 2,  # the pattern's and its review's
        "all_waiting": all_waiting_at is not None,
        "seconds_to_all_waiting": None if all_waiting_at is None else round(all_waiting_at - start, 1),
        "max_waiting": max_waiting,
        "max_open_pattern_invocations": max_open,
        "review_statuses_before_approval": waiting_statuses,
        "pattern_statuses_before_approval": waiting_pattern,
        "hold_s": hold,
        "approved": len(approved),
        "seconds_approval_to_results": round(end - approve_at, 1),
        "after_approval_ms": {
            name: None if (v := load.percentile(after_approval, q)) is None else round(v)
            for name, q in (("p50", 50), ("p99", 99), ("max", 100))
        },
        "results": seen,
        "lost": count - seen,
        "ok": summary["ok"],
        "statuses": summary["statuses"],
        "seconds": round(end - start, 1),
        "agent_rss_before_mb": round(rss_before.get("rss_mean_mb", 0), 1),
        "agent_rss_max_mb": everything.get("agent-service", {}).get("rss_max_mb"),
        "restate_rss_max_mb": everything.get("restate", {}).get("rss_max_mb"),
        "agent_rss_waiting_max_mb": while_waiting.get("agent-service", {}).get("rss_max_mb"),
        "restate_rss_waiting_max_mb": while_waiting.get("restate", {}).get("rss_max_mb"),
    }
    say(
        f"  {seen}/{count} results ({result['ok']} ok) {result['seconds_approval_to_results']} s after the approvals; "
        f"RSS max agent {result['agent_rss_max_mb']} MB, restate {result['restate_rss_max_mb']} MB"
    )
    return result
