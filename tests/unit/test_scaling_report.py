"""`python -m benchmarks.scaling`: its arguments, the sums per kind of process, the extrapolation and the
report rendered from the recorded run (docs/benchmarks/cluster-scaling.json); no stack needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import scaling

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "docs" / "benchmarks" / "cluster-scaling.json"


def test_arguments_default_to_the_main_benchmarks_load():
    config = scaling.config_from(scaling.build_parser().parse_args([]))
    assert config.agent_services == [1, 2, 3] and config.references
    assert (config.concurrency, config.duration, config.warmup, config.latency) == (100, 15.0, 3.0, 100.0)
    args = scaling.build_parser().parse_args(
        ["--agent-services", "1,3", "--no-references", "--duration", "8", "--state-dir", "/tmp/x"]
    )
    config = scaling.config_from(args)
    assert (config.agent_services, config.references, config.duration, str(config.state_dir)) == (
        [1, 3],
        False,
        8.0,
        "/tmp/x",
    )


@pytest.mark.parametrize("counts", ["", "0", "1,x", "17"])
def test_bad_agent_service_counts_are_refused(counts, capsys):
    with pytest.raises(SystemExit):
        scaling.build_parser().parse_args(["--agent-services", counts])
    assert "--agent-services" in capsys.readouterr().err


def test_processes_are_summed_per_kind():
    assert [scaling.kind_of(n) for n in ("agent-service-2", "agent-service", "restate-3", "kafka-1")] == [
        "agent-service",
        "agent-service",
        "restate",
        "kafka",
    ]
    assert scaling.kind_of("balancer/4242") == scaling.kind_of("balancer") == "nginx"
    assert scaling.kind_of("topic-gate") == scaling.kind_of("supervisor") == "rest-of-stack"
    resources = {
        "system_cpu_pct": 190.0,
        "agent-service-1": {"cpu_mean_pct": 30.0, "rss_max_mb": 90.0, "rss_mean_mb": 80.0},
        "agent-service-2": {"cpu_mean_pct": 20.0, "rss_max_mb": 100.0, "rss_mean_mb": 85.0},
        "balancer": {"cpu_mean_pct": 0.0, "rss_max_mb": 6.0, "rss_mean_mb": 6.0},
        "balancer/4242": {"cpu_mean_pct": 5.0, "rss_max_mb": 8.0, "rss_mean_mb": 8.0},
    }
    kinds = scaling.by_kind(resources, throughput=25.0)
    agents = kinds["agent-service"]
    assert (agents["cpu_pct"], agents["rss_max_mb"], agents["rss_sum_mb"]) == (50.0, 100.0, 190.0)
    assert agents["cpu_ms_per_request"] == 20.0  # half a core for 25 req/s
    assert kinds["nginx"]["cpu_ms_per_request"] == 2.0
    assert scaling.cpu_ms(50.0, 0.0) is None


def test_extrapolation_is_linear_in_the_measured_cpu_per_request():
    def row(n: int, agent: float, restate: float, kafka: float) -> dict:
        kinds = {k: {"cpu_ms_per_request": v} for k, v in (("agent-service", agent), ("restate", restate))}
        kinds["kafka"] = {"cpu_ms_per_request": kafka}
        kinds["nginx"] = {"cpu_ms_per_request": 1.0}
        return {"setup": "cluster", "agent_services": n, "kinds": kinds}

    x = scaling.extrapolate({"rows": [row(1, 10.0, 20.0, 30.0), row(2, 14.0, 24.0, 34.0)]})
    assert x is not None
    assert x["durable_ms_per_request"] == 12.0 + 22.0 + 32.0
    assert x["rps_per_core"] == round(1000 / 66.0, 1)
    at_1000 = x["rates"][0]
    assert at_1000["rate"] == 1000
    assert at_1000["cores"]["agent-service"] == round(1000 * 12.0 / 1000 / scaling.UTILIZATION, 1)
    assert at_1000["agent_service_processes"] == 18  # 17.1 cores at one core per process
    assert at_1000["restate_nodes"] == 4 and at_1000["brokers"] == 6  # 31.4 and 45.7 cores on 8-core nodes
    assert x["rates"][1]["cores_total"] == pytest.approx(10 * at_1000["cores_total"], abs=0.2)
    assert scaling.extrapolate({"rows": []}) is None


def test_the_recorded_run_renders_as_committed(tmp_path):
    assert scaling.main(["--from-json", str(RECORDED), "--out", str(tmp_path)]) == 0
    table = (tmp_path / "cluster-scaling.md").read_text()
    assert table == (RECORDED.parent / "cluster-scaling.md").read_text()
    data = json.loads((tmp_path / "cluster-scaling.json").read_text())
    setups = [scaling.setup_label(r) for r in data["rows"]]
    assert setups == [
        "cluster, 1 agent service",
        "cluster, 2 agent services",
        "cluster, 3 agent services",
        "single node (durable)",
        "(b) plain consumer, no durability",
    ]
    for label in [*setups, "Extrapolation (not measured)", "10,000 req/s", "Where the CPU goes"]:
        assert label in table
    assert data["extrapolation"] == scaling.extrapolate(data)
