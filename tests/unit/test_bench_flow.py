"""The benchmark's flow-control sections of the report (benchmarks/flow.py), from sample numbers."""

from __future__ import annotations

from benchmarks import flow
from tests.conftest import BENCH_LIMITED_MODEL


def test_the_suite_stack_allows_the_benchmarks_limited_model() -> None:
    assert BENCH_LIMITED_MODEL == flow.LIMITED_MODEL


def limited(**overrides: object) -> dict:
    return {
        "requests": 600,
        "rate": 30.0,
        "budget_configured_rpm": 1800.0,
        "statuses": {"ok": 600},
        "drained_s": 66.0,
        "ideal_s": 60.0,
        "calls": 1800,
        "rate_limited": 9,
        "busiest_second": 57,
        "chat": {"sent": 25, "ok": 25, "p50_ms": 180.0, "p99_ms": 610.0, "max_ms": 640.0},
        **overrides,
    }


def test_the_limited_provider_section_sets_the_drain_against_the_ideal() -> None:
    text = "\n".join(flow.limited_section(limited()))
    assert "600 chaining requests, 30 calls/s" in text
    assert "| drain / ideal | 1.10 |" in text
    assert "| calls answered 429 | 9 of 1,800 (0.5%) |" in text
    assert "a budget configured for the model (1800 requests a minute)" in text
    assert "25/25, 180.0 / 610.0 / 640.0 ms" in text


def test_a_learned_budget_and_a_drain_that_never_ended_are_said_so() -> None:
    text = "\n".join(flow.limited_section(limited(budget_configured_rpm=None, drained_s=None)))
    assert "no budget configured for the model" in text and "| drain / ideal | - |" in text


def test_a_limited_run_that_could_not_run_says_why() -> None:
    assert "Not measured: not allowed" in "\n".join(flow.limited_section({"error": "not allowed"}))


def run(multiple: float | None, throughput: float, whole: float | None = None) -> dict:
    return {
        "variant": "restate-kafka",
        "mode": "open",
        "model_latency_ms": 100.0,
        "rate": 150.0,
        "rate_basis": {"multiple_of_capacity": multiple, "capacity_rps": 100.0} if multiple else None,
        "summary": {"throughput_rps": throughput, "whole_run_rps": whole, "latency_ms": {"p50": 900.0, "p99": 1500.0}},
        "cpu_ms_per_request": {"worker": 7.5, "restate": 4.5},
        "resources": {"agent-service": {"rss_max_mb": 110}, "restate": {"rss_max_mb": 400}},
    }


def test_the_overload_section_lists_only_the_runs_above_capacity() -> None:
    lines = flow.overload_section([run(None, 70.0), run(1.5, 93.0, whole=101.0), run(2, 80.0)])
    rows = [line for line in lines if line.startswith("| 100 ms")]
    assert rows == [
        "| 100 ms | 150 req/s (1.5 x 100) | 93.0 | 93% | 101.0 | 101% | 900.0 | 1500.0 | 12.0 | 110 / 400 |",
        "| 100 ms | 150 req/s (2 x 100) | 80.0 | 80% | - | - | 900.0 | 1500.0 | 12.0 | 110 / 400 |",  # an older run's
    ]
    assert flow.overload_section([run(None, 70.0)]) == []


def test_the_busiest_second_counts_a_sliding_window() -> None:
    assert flow.busiest_second([0.0, 0.5, 0.99, 1.0, 1.5, 2.6]) == 3  # within (t - 1 s, t]
    assert flow.busiest_second([]) == 0


def test_a_batch_drain_is_set_against_the_capacity_with_memory_per_quarter() -> None:
    quarter = {"agent-service": 128.3, "restate": 801.4, "kafka": 784.7, "offline-model": 166.3}
    batch = {
        "requests": 15000,
        "statuses": {"ok": 15000},
        "drained_s": 104.9,
        "drain_rps": 143.0,
        "capacity_rps": 114.8,
        "rss_max_mb_per_quarter": [quarter] * 4,
        "cpu_mean_pct": {"agent-service": 87.4, "restate": 44.9},
    }
    text = "\n".join(flow.batch_section(batch))
    assert "15,000 chaining requests produced together" in text
    assert "| drain rate / capacity | 125% |" in text and "| results | 15,000 ok |" in text
    assert text.count("| 128.3 | 801.4 | 784.7 | 166.3 |") == 4
