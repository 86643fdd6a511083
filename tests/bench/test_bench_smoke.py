"""Smoke test of the benchmark script: ``python -m benchmarks --quick`` against the session stack.

It checks that the script runs every variant and writes the table, the plot and
the raw numbers, not what the numbers are (the machine is shared and noisy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.config import VARIANTS
from subscriptions.restate_admin import admin_client
from tests.restate_api import sql

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_writes_table_plot_and_numbers(stack, tmp_path):
    done = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)),
            *("--overload", "1.5", "--limited", "20", "--limited-rate", "20"),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"

    table = (tmp_path / "quick.md").read_text()
    assert table.strip() in done.stdout  # printed, too
    for label in (
        "Restate via Kafka",
        "(c) Restate via HTTP ingress",
        "(f) Restate floor",
        "(g) durable shape without LLM",
        "(a) plain consumer",
    ):
        assert label in table
    assert "Overhead per journaled step" in table and "40 requests waiting for approval" in table

    png = (tmp_path / "quick.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

    data = json.loads((tmp_path / "quick.json").read_text())
    assert {(r["variant"], r["mode"]) for r in data["runs"]} == {(v, m) for v in VARIANTS for m in ("closed", "open")}
    for run in data["runs"]:
        assert run["summary"]["ok"] > 0, run  # every variant carried requests end to end
        assert run["resources"]["agent-service"]["rss_max_mb"] > 0
    assert data["machine"]["cpus"] >= 1 and data["overhead"]["per_step"]["method_a_ms"] is not None
    # The open loops ran at 70 % of (b)'s closed-loop throughput, measured before them in the same run.
    b_closed = next(r for r in data["runs"] if (r["variant"], r["mode"]) == ("baseline-concurrent", "closed"))
    rate = round(0.7 * b_closed["summary"]["throughput_rps"], 1)
    assert data["config"]["open_rates_rps"] == {"0": rate}
    over = [r for r in data["runs"] if (r["rate_basis"] or {}).get("multiple_of_capacity")]
    assert {r["rate"] for r in data["runs"] if r["mode"] == "open" and r not in over} == {rate}
    # Above capacity: the pipeline's open loop at 1.5 x its own closed-loop throughput, after it.
    kafka_closed = next(r for r in data["runs"] if (r["variant"], r["mode"]) == ("restate-kafka", "closed"))
    [above] = over
    closed = kafka_closed["summary"]
    # Capacity: results seen in the closed loop's window, or (a --quick window too short to see any)
    # what completed over it.
    capacity = closed["throughput_rps"] or round(closed["ok"] / closed["window_s"], 1)
    assert above["variant"] == "restate-kafka" and above["rate_basis"]["capacity_rps"] == capacity > 0
    assert above["rate"] == round(1.5 * capacity, 1) and above["summary"]["ok"] > 0
    assert "Above capacity" in table
    # The backlog against a limited provider drained, every request ok, the chat answered meanwhile.
    limited = data["limited"]
    assert limited["statuses"] == {"ok": 20} and limited["calls"] >= 60 and limited["drained_s"] > 0
    assert limited["chat"]["ok"] == limited["chat"]["sent"]
    assert "A backlog against a limited provider" in table
    assert data["runs"].index(b_closed) < min(i for i, r in enumerate(data["runs"]) if r["mode"] == "open")
    assert any(t["name"].startswith("open loop at 70% of (b)") for t in data["targets"])
    # Every human-in-the-loop request of the in-flight check waited for a person, was approved and came back.
    in_flight = data["in_flight"]
    assert (in_flight["kind"], in_flight["requests"], in_flight["all_waiting"]) == ("approvals", 40, True)
    assert in_flight["approved"] == in_flight["ok"] == 40 and in_flight["lost"] == 0
    assert in_flight["agent_rss_max_mb"] > 0 and in_flight["restate_rss_max_mb"] > 0
    for variant in ("restate-floor", "restate-shape"):
        run = next(r for r in data["runs"] if r["variant"] == variant)
        assert run["cpu_ms_per_request"]["restate"] is not None and run["resources"]["consumer"]["rss_max_mb"] > 0

    # The floors' deployment and subscriptions were for the run only, and the shape's claims are released.
    with admin_client() as client:
        sinks = [s["sink"] for s in client.get("/subscriptions").json()["subscriptions"]]
        services = [s["name"] for d in client.get("/deployments").json()["deployments"] for s in d["services"]]
    for service in ("BenchFloor", "BenchShape", "BenchShapeIds"):
        assert not any(f"/{service}/" in sink for sink in sinks) and service not in services
    assert sql("SELECT count(*) AS n FROM state WHERE service_name = 'BenchShapeIds'") == [{"n": 0}]
