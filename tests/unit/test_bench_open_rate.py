"""The benchmark's open loop at a share of baseline (b)'s closed-loop throughput: the options, the rate derived
from the run's own (b) closed loop, and the target row (keeps up, p99 against (b) at that rate); no stack needed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks import report, runner
from benchmarks.config import (
    BenchConfig,
    add_arguments,
    config_from,
    derived_rate,
    open_rate_fraction,
    ordered_modes,
)
from benchmarks.report import MISSING

ROOT = Path(__file__).resolve().parents[2]


def config_of(*argv: str) -> BenchConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from(parser.parse_args(list(argv)))


def test_by_default_the_open_loop_runs_at_70_percent_of_b():
    assert open_rate_fraction(config_of()) == 0.7
    assert open_rate_fraction(config_of("--quick")) == 0.7
    assert open_rate_fraction(config_of("--open-rate-of-baseline", "0.5")) == 0.5


def test_a_fixed_rate_given_wins_over_the_default():
    config = config_of("--rate", "100")
    assert open_rate_fraction(config) is None and config.rate == 100
    assert open_rate_fraction(config_of("--rate", "100", "--open-rate-of-baseline", "0")) is None


def test_both_a_fixed_rate_and_a_fraction_are_refused():
    with pytest.raises(ValueError, match="either --rate"):
        open_rate_fraction(config_of("--rate", "100", "--open-rate-of-baseline", "0.7"))


def test_zero_turns_it_off_and_a_negative_fraction_is_refused():
    assert open_rate_fraction(config_of("--open-rate-of-baseline", "0")) is None
    with pytest.raises(ValueError, match="positive"):
        open_rate_fraction(config_of("--open-rate-of-baseline", "-0.5"))


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (("--modes", "open"), "mode closed"),
        (("--modes", "closed"), "mode open"),
        (("--variants", "restate-kafka,baseline-sequential"), "variant baseline-concurrent"),
    ],
)
def test_without_b_closed_and_open_the_default_falls_back_and_an_explicit_fraction_is_refused(argv, missing):
    assert open_rate_fraction(config_of(*argv)) is None
    with pytest.raises(ValueError, match=missing):
        open_rate_fraction(config_of(*argv, "--open-rate-of-baseline", "0.7"))


def test_closed_loops_run_before_open_loops():
    assert ordered_modes(["open", "closed"]) == ["closed", "open"]
    assert ordered_modes(["open"]) == ["open"]


def test_the_rate_is_the_fraction_of_b_throughput():
    assert derived_rate(0.7, 181.5) == 127.0
    assert derived_rate(0.7, 0.0) is None and derived_rate(0.7, None) is None
    assert derived_rate(0.7, 0.01) == 0.1  # never an open loop that sends nothing


def run(variant: str, mode: str, latency: float, rps: float, p99: float | None, rate: float | None = None) -> dict:
    basis = {"fraction": 0.7, "baseline_variant": "baseline-concurrent", "baseline_rps": 200.0}
    return {
        "variant": variant,
        "mode": mode,
        "model_latency_ms": latency,
        "in_flight": 100 if mode == "closed" else None,
        "rate": rate if mode == "open" else None,
        "rate_basis": basis if mode == "open" and rate is not None else None,
        "summary": {"throughput_rps": rps, "ok": 10, "sent": 10, "latency_ms": {"p99": p99}},
    }


def test_the_open_rate_comes_from_b_closed_loop_at_the_same_latency():
    runs = [run("baseline-concurrent", "closed", 0.0, 300.0, 500), run("baseline-concurrent", "closed", 100.0, 200, 1)]
    rate, basis = runner.open_rate(0.7, runs, 100.0, fallback=100.0)
    assert rate == 140.0 and basis == {"fraction": 0.7, "baseline_variant": "baseline-concurrent", "baseline_rps": 200}
    rate, basis = runner.open_rate(0.7, runs, 1000.0, fallback=100.0)  # (b) did not run there
    assert rate == 100.0 and basis["fallback"] is True


@pytest.mark.parametrize(
    ("completed", "p99", "b_p99", "met", "said"),
    [
        (139.0, 700.0, 400.0, True, "offered 140, completed 139.0 req/s (99%); p99 700 against (b)'s 400 ms (1.75"),
        (120.0, 700.0, 400.0, False, "(86%: falls behind)"),
        (140.0, 900.0, 400.0, False, "(2.25"),
        (140.0, None, 400.0, False, f"p99 {MISSING} against"),
        (140.0, 700.0, None, None, f"against (b)'s {MISSING} ms"),
    ],
)
def test_the_target_keeps_up_and_compares_p99_with_b(completed, p99, b_p99, met, said):
    runs = [
        run("baseline-concurrent", "closed", 100.0, 200.0, 800.0),
        run("restate-kafka", "open", 100.0, completed, p99, rate=140.0),
        run("baseline-concurrent", "open", 100.0, 140.0, b_p99, rate=140.0),
    ]
    [row] = report.open_loop_targets(runs)
    assert row["met"] is met and said in row["measured"], row
    assert row["name"].startswith("open loop at 70% of (b)'s closed-loop 200.0 req/s, 100 ms model")


def test_no_target_row_for_a_fixed_rate_or_a_fallback():
    fixed = run("restate-kafka", "open", 100.0, 100.0, 500.0)
    fixed["rate"] = 100.0
    fallback = run("restate-kafka", "open", 0.0, 100.0, 500.0, rate=100.0)
    fallback["rate_basis"]["fallback"] = True
    assert report.open_loop_targets([fixed, fallback]) == []


def test_p99_at_100_per_second_is_not_judged_at_a_derived_rate():
    data = {
        "config": {"rate": 100.0},
        "runs": [run("restate-kafka", "open", 100.0, 127.0, 600.0, rate=127.1)],
    }
    rows = {row["name"].split(":")[0]: row for row in report.targets(data)}
    p99_row = rows["p99 end to end at 127.1 req/s, 100 ms model"]
    open_row = rows["open loop at 70% of (b)'s closed-loop 200.0 req/s, 100 ms model"]
    assert p99_row["name"] == "p99 end to end at 127.1 req/s, 100 ms model" and p99_row["met"] is None
    assert "--rate 100" in p99_row["measured"] and open_row["met"] is None


def test_an_earlier_report_renders_again():
    """--from-json on a report written before the open rate was derived (no rate_basis, no open_rates_rps)."""
    data = json.loads((ROOT / "docs" / "benchmarks" / "latest.json").read_text())
    # As such a report was written: a fixed open-loop rate, nothing about how it was derived.
    for key in ("open_rate_of_baseline", "open_rates_rps"):
        data["config"].pop(key, None)
    data["config"]["rate"] = 100.0
    for run in data["runs"]:
        run.pop("rate_basis", None)
        if run.get("mode") == "open":
            run["rate"] = 100.0
    data["targets"] = report.targets(data)
    text = report.markdown(data)
    assert "open loop offers 100 requests/s" in text and "p99 end to end at 100 req/s" in text


def test_the_header_names_the_derived_rates():
    cfg = {"rate": 100.0, "open_rate_of_baseline": 0.7, "open_rates_rps": {"0": 140.2, "100": 127.1}}
    assert report._open_loop_rate(cfg) == (
        "open loop offers 70% of (b)'s closed-loop throughput at the same model latency, measured just before in "
        "this run (140.2 req/s at 0 ms, 127.1 req/s at 100 ms)"
    )
