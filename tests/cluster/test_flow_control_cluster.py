"""One provider budget across every agent-service process of the cluster: a batch backlog put on the
request topic at once drains at the provider's limit, its calls made by all the processes, and what
reaches the model stays within the limit and its burst."""

from __future__ import annotations

import time
from collections import Counter

from agentpipe.settings import get_settings
from benchmarks.flow import busiest_second
from tests.conftest import LIMITED_MODEL
from tests.kafka_io import result_reader, results_for
from tests.reliability.test_flow_control import (
    BURST_S,
    CALLS_PER_REQUEST,
    RATE,
    limited,
    model_calls,
    produce_backlog,
)

BACKLOG = 600  # as on the single node: the ideal drain is long enough that the start counts little


def results_published_by_each_process() -> dict[int, int]:
    logs = get_settings().state_dir / "logs"
    processes = range(1, get_settings().cluster_agent_services + 1)
    return {i: (logs / f"agent-service-{i}.log").read_text().count("result published") for i in processes}


def test_every_process_shares_one_budget(stack):
    assert get_settings().cluster_agent_services >= 3
    ideal_s = BACKLOG * CALLS_PER_REQUEST / RATE
    before = results_published_by_each_process()
    with limited(LIMITED_MODEL, RATE) as control, result_reader("chaining") as reader:
        started = time.monotonic()
        ids = produce_backlog(LIMITED_MODEL, BACKLOG, priority="batch")
        reader.collect(lambda seen: len(results_for(seen, ids)) == BACKLOG, timeout=4 * ideal_s)
        drained_s = time.monotonic() - started
        calls = model_calls(control, ids)
    after = results_published_by_each_process()
    results = results_for(reader.seen, ids)
    assert Counter(r["value"]["status"] for r in results.values()) == {"ok": BACKLOG}
    assert all(after[i] > before[i] for i in after), (before, after)
    codes = Counter(call["status"] for call in calls)
    assert codes[429] <= 0.05 * len(calls), codes
    busiest = busiest_second([c["started_at"] for c in calls if c["status"] == 200])
    assert busiest <= RATE + RATE * BURST_S, busiest
    assert drained_s <= 1.15 * ideal_s, f"drained in {drained_s:.1f}s, the limit allows {ideal_s:.0f}s"
