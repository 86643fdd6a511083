"""The benchmark's summary of one load run (benchmarks/load.summarize), from made-up outcomes."""

from __future__ import annotations

from benchmarks.load import LoadOutcome, LoadRun, summarize


def test_above_capacity_the_window_and_the_whole_run_are_counted_apart() -> None:
    # Sent one a second for 10 s, finished one every 2 s: half finish after the window (2..8 s).
    outcomes = [LoadOutcome(f"r{i}", sent=float(i), done=float(2 * i + 1), status="ok") for i in range(10)]
    summary = summarize(LoadRun(outcomes, window=(2.0, 8.0)))
    assert summary["throughput_rps"] == 0.5  # results at 3, 5 and 7 s in a 6 s window
    assert summary["whole_run_rps"] == round(10 / 19, 1)  # ten results from the first send (0 s) to the last (19 s)
    assert summary["ok"] == 10 and summary["measured"] == 7


def test_a_run_with_nothing_back_has_no_whole_run_rate() -> None:
    summary = summarize(LoadRun([LoadOutcome("r0", sent=0.0, status="timeout")], window=(0.0, 1.0)))
    assert summary["whole_run_rps"] is None and summary["throughput_rps"] == 0.0
