"""Overhead per journaled step with a 0 ms model, measured two ways.

A (end to end): one request at a time, the chaining handler over the HTTP
ingress (reply time) minus the same work done directly (3 LLM calls + the
result publish, from this process, same client settings), divided by the
4 journaled steps. It charges the invocation's start and end to the steps,
so it is an upper bound.

B (journal): Restate's own timestamps in ``sys_journal``. Each step's
completion is appended as a ``Notification: Run``; for the 2nd and 3rd LLM
steps the gap between consecutive completions is "ack the previous step,
resume the handler, journal the next command, call the model, journal the
result". Subtracting the direct model call time leaves the per-step cost of
durability. Timestamps have 1 ms resolution, so the median is over many steps.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime

import httpx

from agentpipe.kafka_publisher import KafkaPublisher
from agentpipe.settings import get_settings
from benchmarks.baselines import Chain
from benchmarks.monitor import sql
from producers.invocations import claimed_invocations

STEPS_PER_REQUEST = 4  # 3 LLM calls + the result publish


class TimedChain(Chain):
    """The baselines' chain, timing each LLM call."""

    def __init__(self) -> None:
        super().__init__()
        self.call_seconds: list[float] = []

    async def ask(self, request_id: str, step: str, system: str, user: str) -> str:
        started = time.perf_counter()
        reply = await super().ask(request_id, step, system, user)
        self.call_seconds.append(time.perf_counter() - started)
        return reply


async def direct_probe(count: int, result_topic: str, message: str) -> dict:
    """The chain's work without Restate, one at a time: per LLM call and per request (incl. publish)."""
    chain = TimedChain()
    publisher = KafkaPublisher(get_settings().kafka_bootstrap)
    publishes: list[float] = []
    totals: list[float] = []
    try:
        for i in range(count + 2):
            started = time.perf_counter()
            output = await chain.run(f"bench-direct-{i}", message)
            before_publish = time.perf_counter()
            await publisher.publish(result_topic, key=f"bench-direct-{i}", value={"output": output})
            done = time.perf_counter()
            if i >= 2:  # the first two warm up connections
                publishes.append(done - before_publish)
                totals.append(done - started)
    finally:
        publisher.close(5)
    return {
        "llm_call_ms_p50": _ms(statistics.median(chain.call_seconds[6:])),
        "publish_ms_p50": _ms(statistics.median(publishes)),
        "request_ms_p50": _ms(statistics.median(totals)),
    }


async def ingress_probe(count: int, path: str, body: dict, id_prefix: str) -> dict:
    """The Restate handler over the HTTP ingress, one request at a time; reply time per request."""
    replies: list[float] = []
    async with httpx.AsyncClient(base_url=get_settings().restate_ingress_url, timeout=60) as client:
        for i in range(count + 2):
            started = time.perf_counter()
            response = await client.post(path, json={**body, "request_id": f"{id_prefix}-{i}"})
            response.raise_for_status()
            if i >= 2:
                replies.append(time.perf_counter() - started)
    return {"reply_ms_p50": _ms(statistics.median(replies)), "reply_ms_p95": _ms(_quantile(replies, 0.95))}


def journal_step_gaps(service: str, request_ids: list[str]) -> dict:
    """Per-step gaps from sys_journal of the invocations that ran the requests (named by their request-id claims)."""
    gaps_ms: list[float] = []
    totals_ms: list[float] = []
    for chunk in _chunks(request_ids, 50):
        claimed = claimed_invocations(*chunk, patterns=("chaining",))
        if not claimed:
            continue
        ids = ", ".join(f"'{invocation_id}'" for invocation_id in claimed)
        rows = sql(f"SELECT id, index, entry_type, appended_at FROM sys_journal WHERE id IN ({ids}) ORDER BY id, index")
        by_invocation: dict[str, list[dict]] = {}
        for row in rows:
            by_invocation.setdefault(row["id"], []).append(row)
        for entries in by_invocation.values():
            done = [_epoch_ms(e["appended_at"]) for e in entries if e.get("entry_type") == "Notification: Run"]
            ends = [
                _epoch_ms(e["appended_at"])
                for e in entries
                if e.get("entry_type") in ("Command: Input", "Command: Output")
            ]
            if len(done) >= 3:
                gaps_ms += [done[1] - done[0], done[2] - done[1]]  # LLM steps 2 and 3
            if len(ends) == 2:
                totals_ms.append(ends[1] - ends[0])
    return {
        "invocations": len(totals_ms),
        "llm_step_gap_ms_p50": statistics.median(gaps_ms) if gaps_ms else None,
        "llm_step_gap_ms_mean": round(statistics.fmean(gaps_ms), 2) if gaps_ms else None,
        "invocation_ms_p50": statistics.median(totals_ms) if totals_ms else None,
    }


def per_step_overhead(direct: dict, ingress: dict, journal: dict) -> dict:
    a = (ingress["reply_ms_p50"] - direct["request_ms_p50"]) / STEPS_PER_REQUEST
    b = None
    if journal.get("llm_step_gap_ms_p50") is not None:
        b = journal["llm_step_gap_ms_p50"] - direct["llm_call_ms_p50"]
    b_mean = None
    if journal.get("llm_step_gap_ms_mean") is not None:
        b_mean = journal["llm_step_gap_ms_mean"] - direct["llm_call_ms_p50"]
    return {
        "method_a_ms": round(a, 2),
        "method_b_ms": None if b is None else round(b, 2),
        "method_b_mean_ms": None if b_mean is None else round(b_mean, 2),
    }


def _epoch_ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


def _chunks(items: list[str], size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
