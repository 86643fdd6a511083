"""The benchmark's (g) variant: the pipeline's durable shape without LLM work, and the report row that sets its
CPU against what target 2 leaves durability (0.5 × (b)'s consumer); no stack needed."""  # noqa: RUF002

from __future__ import annotations

from benchmarks import floor, report
from benchmarks.config import VARIANTS
from handlers import chaining


def run(variant: str, worker: float, restate: float | None, rps: float = 300.0, mode: str = "closed") -> dict:
    return {
        "variant": variant,
        "mode": mode,
        "model_latency_ms": 100,
        "in_flight": 100,
        "rate": None,
        "summary": {"throughput_rps": rps, "sent": 10, "ok": 10, "latency_ms": {"p50": 1, "p95": 1, "p99": 1}},
        "resources": {},
        "cpu_ms_per_request": {"worker": worker, "restate": restate},
    }


def row(runs: list[dict]) -> dict | None:
    rows = report.targets({"runs": runs, "config": {"rate": 0}})
    return next((r for r in rows if r["name"].startswith("durability alone")), None)


def shape_row(b_worker: float, shape_worker: float, shape_restate: float) -> dict | None:
    """The row for a pipeline run, (b) at ``b_worker`` ms/req and (g) at the given split."""
    pipeline, b = run("restate-kafka", 7.0, 4.0, 107), run("baseline-concurrent", b_worker, None, 240)
    return row([pipeline, b, run("restate-shape", shape_worker, shape_restate)])


def test_a_shape_over_the_allowance_says_target_2_is_out_of_reach():
    found = shape_row(3.0, 2.3, 2.1)
    assert found is not None and found["met"] is None  # measured, not a target of its own
    assert "4.4 ms/req (handler 2.3 + restate 2.1)" in found["measured"]
    assert "allows durability 1.5 ms" in found["measured"] and "out of reach" in found["measured"]


def test_a_shape_within_the_allowance_says_so():
    found = shape_row(4.0, 0.5, 1.0)
    assert found is not None and "within it" in found["measured"] and "out of reach" not in found["measured"]


def test_no_row_without_the_shape_or_its_restate_cpu():
    base = [run("restate-kafka", 7.0, 4.0, 107), run("baseline-concurrent", 3.0, None, 240)]
    assert row(base) is None
    assert row([*base, run("restate-shape", 2.0, None)]) is None


def test_the_shape_is_a_variant_with_its_own_topics_and_group():
    assert "restate-shape" in VARIANTS and set(floor.KINDS) == {"restate-floor", "restate-shape"}
    kinds = list(floor.KINDS.values())
    for attribute in ("requests", "results", "group", "sink"):
        assert len({getattr(kind, attribute) for kind in kinds}) == len(kinds), attribute
    assert floor.SHAPE.sink == "BenchShape/ingest"
    # The shape journals one step per LLM call of chaining, under the names the pipeline's own chain uses.
    assert len(chaining.STEPS) == 3
    assert report.LABELS["restate-shape"] and report.SHORT["restate-shape"]
