"""Cluster scaling run: the same closed-loop load against the cluster with 1, 2, 3 agent-service
processes, and, as references, the single-node durable pipeline and the plain-consumer baseline (b).

    python -m benchmarks.scaling                       # 1,2,3 agent services; about 7 minutes
    python -m benchmarks.scaling --agent-services 1,3 --duration 8
    python -m benchmarks.scaling --from-json docs/benchmarks/cluster-scaling.json   # render again

Unlike ``python -m benchmarks`` it starts and stops every stack itself: for each setup
``agentpipe up --cluster --agent-services N`` (or ``up --single``) in its own state folder
(``--state-dir``, wiped before each start so every setup begins with empty topics and journals),
the load, then ``agentpipe down``, also on failure. The load, the CPU/RSS sampling and the
baseline are those of the main benchmark (``load``, ``monitor``, ``baselines``, ``runner.Bench``);
here the stack's processes are summed per kind (agent services, Restate nodes, brokers, nginx).
Writes ``<name>.md`` and ``<name>.json`` into ``./benchmark-results/`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from benchmarks.config import RESULTS_DIR, BenchConfig
from benchmarks.markdown import table

if TYPE_CHECKING:
    from benchmarks.load import ResultWatcher

# Processes of the stack by kind; the order is the tables' order.
KINDS = ("agent-service", "restate", "kafka", "nginx", "offline-model", "consumer", "rest-of-stack", "driver")
KIND_LABELS = {
    "agent-service": "agent services",
    "restate": "Restate nodes",
    "kafka": "brokers",
    "nginx": "nginx",
    "offline-model": "offline model",
    "consumer": "consumer (b)",
    "rest-of-stack": "remote agents, supervisor, others",
    "driver": "load driver",
}
# The durable path's own cost, what the extrapolation scales (the model stands in for a remote LLM).
DURABLE_PATH = ("agent-service", "restate", "kafka")
EXTRAPOLATION_RATES = (1_000, 10_000)
UTILIZATION = 0.7  # of each core, leaving headroom for bursts, failover and GC
NODE_CORES = 8  # cores of one Restate node or broker in the extrapolation
# CPU (% of one core) outside every watched process above which a row is flagged as disturbed.
DISTURBED_PCT = 25.0
MISSING = "–"  # noqa: RUF001 - an en dash stands for a number that is missing


@dataclass
class ScalingConfig:
    agent_services: list[int] = field(default_factory=lambda: [1, 2, 3])
    references: bool = True  # also the single-node pipeline and baseline (b)
    latency: float = 100.0
    concurrency: int = BenchConfig.concurrency
    duration: float = BenchConfig.duration
    warmup: float = BenchConfig.warmup
    settle: float = 3.0  # idle seconds after `up`, measured as the setup's background load
    settle_max: float = 20.0  # at most this long
    prime: float = 5.0  # unmeasured seconds of load on a fresh stack before its rows
    state_dir: Path = Path(".agentpipe/scaling")
    up_timeout: float = 300.0
    label: str = ""
    out: Path = RESULTS_DIR
    name: str = "cluster-scaling"


def _counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,2,3, got {text!r}") from None
    if not counts or any(not 1 <= n <= 16 for n in counts):
        raise argparse.ArgumentTypeError("agent-service counts must be between 1 and 16")
    return counts


def build_parser() -> argparse.ArgumentParser:
    d = ScalingConfig()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling",
        description="Throughput, latency and CPU per request of the cluster with 1..N agent-service processes, "
        "with the single-node pipeline and the plain-consumer baseline (b) as references. Starts and stops "
        "each stack itself (ports must be free).",
        epilog="example: python -m benchmarks.scaling --agent-services 1,2,3 --state-dir /tmp/scaling",
    )
    parser.add_argument(
        "--agent-services",
        type=_counts,
        default=d.agent_services,
        metavar="N,N,...",
        help="cluster setups to run, by agent-service processes (default 1,2,3)",
    )
    parser.add_argument(
        "--no-references", action="store_true", help="skip the single-node pipeline and baseline (b) rows"
    )
    parser.add_argument("--latency", type=float, default=d.latency, help="offline model latency in ms (default 100)")
    parser.add_argument(
        "--concurrency", type=int, default=d.concurrency, help=f"requests in flight (default {d.concurrency})"
    )
    parser.add_argument(
        "--duration", type=float, default=d.duration, help=f"measured seconds per row (default {d.duration:g})"
    )
    parser.add_argument(
        "--warmup", type=float, default=d.warmup, help=f"unmeasured seconds before each (default {d.warmup:g})"
    )
    parser.add_argument(
        "--prime",
        type=float,
        default=d.prime,
        help=f"unmeasured seconds of load on each fresh stack (default {d.prime:g})",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=d.state_dir,
        help=f"state folder of the stacks it starts, wiped before each (default {d.state_dir})",
    )
    parser.add_argument("--up-timeout", type=float, default=d.up_timeout, help="seconds one `up` may take")
    parser.add_argument("--label", default="", help="what this run measures (goes into the report)")
    parser.add_argument("--out", type=Path, default=d.out, help=f"output folder (default ./{RESULTS_DIR})")
    parser.add_argument("--name", default=d.name, help=f"file stem of the outputs (default {d.name})")
    parser.add_argument(
        "--from-json", type=Path, metavar="JSON", help="only render the report again from a run's .json (no stack)"
    )
    return parser


def config_from(args: argparse.Namespace) -> ScalingConfig:
    return ScalingConfig(
        agent_services=args.agent_services,
        references=not args.no_references,
        latency=args.latency,
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=args.warmup,
        prime=args.prime,
        state_dir=args.state_dir,
        up_timeout=args.up_timeout,
        label=args.label,
        out=args.out,
        name=args.name,
    )


# --- processes by kind ------------------------------------------------------------------------


def kind_of(name: str) -> str:
    """``agent-service-2`` → ``agent-service``, ``balancer/1234`` → ``nginx``, ``topic-gate`` → rest of stack."""
    base = re.sub(r"-\d+$", "", name.split("/", 1)[0])
    if base == "balancer":
        return "nginx"
    return base if base in KINDS else "rest-of-stack"


def with_children(pids: dict[str, int]) -> dict[str, int]:
    """Each component's process and its descendants (nginx does its work in a worker child)."""
    out = dict(pids)
    for name, pid in pids.items():
        if name == "supervisor":
            continue  # its children are the components
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            if child.pid not in out.values():
                out[f"{name}/{child.pid}"] = child.pid
    return out


def by_kind(resources: dict, throughput: float) -> dict[str, dict]:
    """Per kind: CPU summed over its processes (% of one core), CPU ms per completed request, peak RSS."""
    kinds: dict[str, dict] = {}
    for name, stats in resources.items():
        if not isinstance(stats, dict) or stats.get("cpu_mean_pct") is None:
            continue
        kind = kind_of(name)
        entry = kinds.setdefault(kind, {"processes": {}, "cpu_pct": 0.0, "rss_max_mb": 0.0, "rss_sum_mb": 0.0})
        entry["cpu_pct"] = round(entry["cpu_pct"] + stats["cpu_mean_pct"], 1)
        entry["rss_max_mb"] = max(entry["rss_max_mb"], stats["rss_max_mb"])
        entry["rss_sum_mb"] = round(entry["rss_sum_mb"] + stats["rss_max_mb"], 1)
        entry["processes"][name] = {"cpu_pct": stats["cpu_mean_pct"], "rss_max_mb": stats["rss_max_mb"]}
    for entry in kinds.values():
        entry["cpu_ms_per_request"] = cpu_ms(entry["cpu_pct"], throughput)
    return kinds


def cpu_ms(cpu_pct: float | None, throughput: float) -> float | None:
    """CPU time per completed request from a mean CPU share (% of one core) and a rate."""
    if cpu_pct is None or not throughput:
        return None
    return round(cpu_pct / 100 * 1000 / throughput, 2)


# --- one setup ---------------------------------------------------------------------------------


class ScalingError(Exception):
    pass


def _agentpipe(*args: str, timeout: float) -> subprocess.CompletedProcess:
    """``agentpipe ARGS`` in the scaling state folder (the same command a person types)."""
    env = {**os.environ}
    env.pop("AGENTPIPE_TOPOLOGY", None)  # the `up` flag decides, and records it in the folder
    return subprocess.run(
        [sys.executable, "-m", "producers.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _wipe(state_dir: Path) -> None:
    """Empty the state folder; refuses one that holds a running stack or is not a stack's folder."""
    from stack.local import supervisor_pid

    if supervisor_pid() is not None:
        raise ScalingError(f"a stack runs in {state_dir}; `agentpipe down` it first")
    if state_dir.exists():
        if any(state_dir.iterdir()) and not (state_dir / "status.json").exists():
            raise ScalingError(f"{state_dir} is not an agentpipe state folder; choose another --state-dir")
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)


def stack_up(topology: str, agent_services: int, config: ScalingConfig) -> float:
    from agentpipe.settings import get_settings
    from benchmarks.runner import say

    _wipe(config.state_dir)
    args = ["up", "--timeout", str(config.up_timeout)]
    args += ["--cluster", "--agent-services", str(agent_services)] if topology == "cluster" else ["--single"]
    say(f"agentpipe {' '.join(args)}")
    started = time.monotonic()
    done = _agentpipe(*args, timeout=config.up_timeout + 60)
    if done.returncode != 0:
        raise ScalingError(f"agentpipe {' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    get_settings.cache_clear()  # the folder now records the topology: brokers and ports follow it
    return round(time.monotonic() - started, 1)


def stack_down() -> None:
    from agentpipe.settings import get_settings
    from benchmarks.runner import say

    say("agentpipe down")
    done = _agentpipe("down", timeout=180)
    if done.returncode != 0:
        say(f"warning: agentpipe down failed: {(done.stderr or done.stdout).strip()[-500:]}")
    get_settings.cache_clear()


def settle(watched: dict[str, int], config: ScalingConfig) -> dict:
    """A fresh cluster stays busy for a while after `up` (JITs, replication, leader moves): wait, bounded,
    until the machine is less than half busy over ``config.settle`` seconds; returns the last reading."""
    from benchmarks import monitor, runner

    deadline = time.monotonic() + config.settle_max
    while True:
        background = monitor.background_load(config.settle, exclude=set(watched.values()))
        if background["system_cpu_pct"] < 50 or time.monotonic() >= deadline:
            runner.say(f"idle machine {background['system_cpu_pct']:.0f}% busy")
            return background


async def prime(watcher: ResultWatcher, config: ScalingConfig) -> None:
    """A fresh stack's first requests wait for group and transaction coordinators, subscriptions and JITs:
    one request end to end, then ``config.prime`` seconds of the load, neither measured."""
    from agentpipe.topics import request_topic, result_topic
    from benchmarks import load, runner

    body = runner.request_body("chaining")
    run_id = load.new_run_id()
    target = load.KafkaTarget("restate-kafka", request_topic("chaining"), result_topic("chaining"))
    try:
        started = time.monotonic()
        first = await load.one_request(target, watcher, f"scaling-{run_id}-first", body, 120)
        if first.status != "ok":
            raise ScalingError(f"the first request did not complete ({first.status})")
        runner.say(
            f"first request through in {time.monotonic() - started:.1f} s; {config.prime:g} s of unmeasured load"
        )
        await load.closed_loop(
            target,
            watcher,
            body,
            in_flight=config.concurrency,
            duration=config.prime,
            warmup=0,
            id_prefix=f"scaling-{run_id}-prime",
            request_timeout=30,
        )
    finally:
        await target.close()


async def measure(setup: str, agent_services: int | None, variants: list[str], config: ScalingConfig) -> list[dict]:
    """The load of each variant against the running stack, with every process of it sampled."""
    from agentpipe.settings import get_settings
    from agentpipe.topics import result_topic
    from benchmarks import baselines, load, monitor, runner
    from offline_model.client import OfflineModelControl
    from stack.local import supervisor_pid

    settings = get_settings()
    supervisor = supervisor_pid()
    watched = with_children({**monitor.stack_pids(), **({"supervisor": supervisor} if supervisor else {})})
    background = settle(watched, config)
    model = OfflineModelControl(settings.offline_model_url)
    model.set_latency(config.latency)
    topics = [result_topic("chaining")]
    if "baseline-concurrent" in variants:
        baselines.ensure_bench_topics(("concurrent",))
        topics.append(baselines.bench_topics("concurrent")[1])
    watcher = load.ResultWatcher(topics, asyncio.get_running_loop())
    try:
        await prime(watcher, config)
    except BaseException:
        watcher.close()
        model.close()
        raise
    sampler = monitor.ProcessSampler({**watched, "driver": os.getpid()}).start()
    bench_config = BenchConfig(
        latencies=[config.latency],
        modes=["closed"],
        variants=variants,
        concurrency=config.concurrency,
        duration=config.duration,
        warmup=config.warmup,
    )
    bench = runner.Bench(bench_config, model, sampler, watcher, load.new_run_id())
    rows = []
    try:
        for variant in variants:
            run = await bench.one_run(config.latency, variant, "closed")
            throughput = run["summary"]["throughput_rps"]
            durable = variant.startswith("restate")
            rows.append(
                {
                    "setup": setup if durable else "baseline-b",
                    "agent_services": agent_services if durable else None,
                    "variant": variant,
                    "summary": run["summary"],
                    "llm_calls_per_request": run["llm_calls_per_request"],
                    "kinds": by_kind(run["resources"], throughput),
                    "machine_cpu_pct": run["resources"].get("system_cpu_pct"),
                    "others_cpu_pct": run["resources"].get("others_cpu_pct"),
                    "background_load": background,
                    "resources": run["resources"],
                }
            )
            await asyncio.sleep(0.5)
    finally:
        watcher.close()
        sampler.stop()
        model.close()
    return rows


def run_setup(setup: str, topology: str, agent_services: int, variants: list[str], config: ScalingConfig) -> list[dict]:
    """Fresh stack, the load, `down` (always, also when the stack or the load fails)."""
    try:
        up_seconds = stack_up(topology, agent_services, config)
        rows = asyncio.run(measure(setup, agent_services if topology == "cluster" else None, variants, config))
    finally:
        stack_down()
    for row in rows:
        row["up_seconds"] = up_seconds
    return rows


def run_scaling(config: ScalingConfig, command: str) -> dict:
    from agentpipe.settings import get_settings
    from benchmarks import monitor

    # Everything, this process and the stacks it starts, uses the scaling folder.
    os.environ["AGENTPIPE_STATE_DIR"] = str(config.state_dir.resolve())
    os.environ.pop("AGENTPIPE_TOPOLOGY", None)
    get_settings.cache_clear()
    if not get_settings().uses_offline_model:
        raise ScalingError("the scaling run drives the offline model; unset OPENAI_API_KEY and OPENAI_BASE_URL")
    started = time.monotonic()
    rows: list[dict] = []
    for n in config.agent_services:
        rows += run_setup("cluster", "cluster", n, ["restate-kafka"], config)
    if config.references:
        rows += run_setup("single", "single", 1, ["restate-kafka", "baseline-concurrent"], config)
    return {
        "label": config.label,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": monitor.machine(),
        "config": {
            "pattern": "chaining",
            "mode": "closed",
            "model_latency_ms": config.latency,
            "concurrency": config.concurrency,
            "duration_s": config.duration,
            "warmup_s": config.warmup,
            "settle_s": config.settle,
            "settle_max_s": config.settle_max,
            "prime_s": config.prime,
            "agent_services": config.agent_services,
            "request_partitions": get_settings().request_partitions,
            "state_dir_wiped_per_setup": True,
        },
        "wall_seconds": round(time.monotonic() - started, 1),
        "rows": rows,
    }


# --- report ------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0) -> str:
    return MISSING if value is None else f"{value:,.{digits}f}"


def setup_label(row: dict) -> str:
    if row["setup"] == "cluster":
        n = row["agent_services"]
        return f"cluster, {n} agent service{'s' if n != 1 else ''}"
    return "single node (durable)" if row["setup"] == "single" else "(b) plain consumer, no durability"


def _kind(row: dict, kind: str, key: str) -> float | None:
    return row["kinds"].get(kind, {}).get(key)


def durable_ms(row: dict, kinds: tuple[str, ...] = DURABLE_PATH) -> float | None:
    """CPU ms per request of the durable path (agent services + Restate + brokers)."""
    values = [_kind(row, k, "cpu_ms_per_request") for k in kinds]
    return None if any(v is None for v in values) else round(sum(v for v in values if v is not None), 2)


def results_table(rows: list[dict]) -> list[str]:
    head = [
        "setup",
        "throughput req/s",
        "p50 ms",
        "p99 ms",
        "ok / sent",
        "CPU ms/req: agent services (Σ)",
        "Restate (Σ)",
        "brokers (Σ)",
        "nginx",
        "agent + Restate + brokers",
    ]
    body = []
    for row in rows:
        s = row["summary"]
        if row["setup"] == "baseline-b":
            worker_ms = _fmt(_kind(row, "consumer", "cpu_ms_per_request"), 1) + " (consumer)"
            restate = MISSING
            total = _fmt(durable_ms(row, ("consumer", "kafka")), 1) + " (consumer + broker)"
        else:
            worker_ms = _fmt(_kind(row, "agent-service", "cpu_ms_per_request"), 1)
            restate = _fmt(_kind(row, "restate", "cpu_ms_per_request"), 1)
            total = _fmt(durable_ms(row), 1)
        body.append(
            [
                setup_label(row),
                _fmt(s["throughput_rps"], 1),
                _fmt(s["latency_ms"]["p50"]),
                _fmt(s["latency_ms"]["p99"]),
                f"{s['ok']} / {s['sent']}",
                worker_ms,
                restate,
                _fmt(_kind(row, "kafka", "cpu_ms_per_request"), 1),
                _fmt(_kind(row, "nginx", "cpu_ms_per_request"), 2),
                total,
            ]
        )
    return table(head, "l" + "r" * 9, body)


def cpu_table(rows: list[dict]) -> list[str]:
    """Where the CPU goes: mean % of one core per kind (summed over its processes)."""
    head = ["setup", *(KIND_LABELS[k] for k in KINDS), "everything else", "whole machine"]
    body = [
        [
            setup_label(row),
            *(_fmt(_kind(row, k, "cpu_pct")) for k in KINDS),
            _fmt(row.get("others_cpu_pct")),
            _fmt(row.get("machine_cpu_pct")),
        ]
        for row in rows
    ]
    return table(head, "l" + "r" * (len(KINDS) + 2), body)


def rss_table(rows: list[dict]) -> list[str]:
    kinds = ("agent-service", "restate", "kafka", "nginx", "consumer")
    body = []
    for row in rows:
        cells = [setup_label(row)]
        for k in kinds:
            entry = row["kinds"].get(k)
            if not entry or (k == "consumer" and row["setup"] != "baseline-b"):
                cells.append(MISSING)
            elif len(entry["processes"]) > 1:
                cells.append(f"{_fmt(entry['rss_max_mb'])} ({_fmt(entry['rss_sum_mb'])} Σ)")
            else:
                cells.append(_fmt(entry["rss_max_mb"]))
        body.append(cells)
    return table(["setup", *(KIND_LABELS[k] for k in kinds)], "l" + "r" * len(kinds), body)


def spread(rows: list[dict]) -> list[str]:
    """How the load spread over the agent-service processes (CPU % of one core each)."""
    lines = []
    for row in rows:
        processes = row["kinds"].get("agent-service", {}).get("processes", {})
        if row["setup"] == "cluster" and len(processes) > 1:
            shares = ", ".join(f"{_fmt(p['cpu_pct'])}%" for _name, p in sorted(processes.items()))
            lines.append(f"- {setup_label(row)}: {shares}")
    return lines


def disturbed(rows: list[dict]) -> list[str]:
    """Rows during which work outside the watched processes took a large share of the machine."""
    return [
        f"{setup_label(r)} ({_fmt(r['others_cpu_pct'])}%)"
        for r in rows
        if r.get("others_cpu_pct") is not None and r["others_cpu_pct"] > DISTURBED_PCT
    ]


def extrapolate(data: dict) -> dict | None:
    """Cores and processes for given rates from the cluster rows' measured CPU per request (linear)."""
    cluster = [r for r in data["rows"] if r["setup"] == "cluster" and durable_ms(r) is not None]
    if not cluster:
        return None

    def mean_ms(kind: str) -> float:
        values = [_kind(r, kind, "cpu_ms_per_request") or 0.0 for r in cluster]
        return round(sum(values) / len(values), 2)

    ms = {kind: mean_ms(kind) for kind in (*DURABLE_PATH, "nginx")}
    durable = sum(ms[k] for k in DURABLE_PATH)
    rates = []
    for rate in EXTRAPOLATION_RATES:
        # Rounded before ceil: 24.0000001 cores are 24 processes, not 25.
        cores = {kind: round(rate * ms[kind] / 1000 / UTILIZATION, 6) for kind in ms}
        rates.append(
            {
                "rate": rate,
                "cores": {kind: round(c, 1) for kind, c in cores.items()},
                "cores_total": round(sum(cores.values()), 1),
                # One Python process uses at most one core (the GIL).
                "agent_service_processes": math.ceil(cores["agent-service"]),
                "restate_nodes": max(3, math.ceil(cores["restate"] / NODE_CORES)),
                "brokers": max(3, math.ceil(cores["kafka"] / NODE_CORES)),
                "llm_calls_per_s": rate * 3,
            }
        )
    return {
        "from_rows": [setup_label(r) for r in cluster],
        "cpu_ms_per_request": ms,
        "durable_ms_per_request": round(durable, 2),
        "rps_per_core": round(1000 / durable, 1) if durable else None,
        "rps_per_core_with_nginx": round(1000 / (durable + ms["nginx"]), 1) if durable else None,
        "utilization": UTILIZATION,
        "node_cores": NODE_CORES,
        "rates": rates,
    }


def extrapolation_lines(x: dict) -> list[str]:
    ms = x["cpu_ms_per_request"]
    lines = [
        "## Extrapolation (not measured)",
        "",
        f"CPU per request of the durable path, mean of the cluster rows ({'; '.join(x['from_rows'])}): agent "
        f"services {ms['agent-service']:.1f} ms + Restate {ms['restate']:.1f} ms + brokers {ms['kafka']:.1f} ms = "
        f"**{x['durable_ms_per_request']:.1f} ms**, i.e. **{x['rps_per_core']:g} requests/s per fully busy core** "
        f"({x['rps_per_core_with_nginx']:g} with nginx's {ms['nginx']:.2f} ms).",
        "",
    ]
    head = [
        "rate",
        "agent-service processes",
        f"Restate cores → nodes ({x['node_cores']} cores)",
        f"broker cores → brokers ({x['node_cores']} cores)",
        "nginx cores",
        "cores in all",
        "LLM calls/s",
    ]
    body = []
    for r in x["rates"]:
        c = r["cores"]
        body.append(
            [
                f"{r['rate']:,} req/s",
                f"{r['agent_service_processes']} ({c['agent-service']:g} cores)",
                f"{c['restate']:g} → {r['restate_nodes']}",
                f"{c['kafka']:g} → {r['brokers']}",
                f"{c['nginx']:g}",
                f"{r['cores_total']:g}",
                f"{r['llm_calls_per_s']:,}",
            ]
        )
    lines += table(head, "r" * 7, body)
    lines += [
        "",
        f"Assumptions: cost grows linearly with the rate (no batching gains, no coordination losses); each core "
        f"is kept at {x['utilization']:.0%} (headroom for bursts, failover and GC); one agent-service process "
        "uses at most one core; the model's latency is waiting, not CPU (a hosted LLM runs elsewhere, so the "
        "offline model's CPU is left out), and the provider's rate limits allow the LLM calls in the last column; "
        "the request topics have enough partitions (and Restate enough partitions) to spread over that many "
        "processes and nodes; replication stays as measured (3 brokers, RF 3; Restate replication 2). CPU per "
        "request was measured on 2 oversubscribed cores, where context switches and cache misses inflate it: the "
        "numbers are an upper bound of the order of magnitude, not a sizing.",
        "",
    ]
    return lines


def markdown(data: dict) -> str:
    m, cfg, rows = data["machine"], data["config"], data["rows"]
    lines = [
        "# agentpipe cluster scaling — chaining",
        "",
        f"Generated {data['generated_at']} by `{data['command']}` in {data['wall_seconds']:.0f} s of wall time.",
        "",
        f"Machine: {m['cpu_model']}, **{m['cpus']} cores** ({m['cpus_usable']} usable), {m['memory_gb']} GB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}. Every process of every setup — 3 KRaft brokers, 3 Restate "
        "nodes, the agent-service processes, nginx, the remote agents, the offline model and the load driver — "
        "shares these cores.",
        "",
        f"Load, the same for every row: the chaining pattern (3 LLM calls), offline model at "
        f"{cfg['model_latency_ms']:g} ms, closed loop with N={cfg['concurrency']} requests in flight through Kafka, "
        f"{cfg['warmup_s']:g} s warm-up then {cfg['duration_s']:g} s measured. Each setup is a fresh "
        f"`agentpipe up` in a wiped state folder, primed with one request end to end and {cfg.get('prime_s', 0):g} s "
        f"of unmeasured load ({cfg['request_partitions']} partitions per request topic); baseline (b) runs on the "
        "single-node stack's broker, like in the main benchmark.",
        "",
        *([f"Run label: **{data['label']}**", ""] if data.get("label") else []),
        "## Throughput, latency, CPU per request",
        "",
        *results_table(rows),
        "",
        "CPU ms/req: CPU time of all processes of a kind (Σ) per completed request in the measured window.",
        "",
        f"## Where the CPU goes (mean % of one core; the machine has {m['cpus'] * 100}%)",
        "",
        *cpu_table(rows),
        "",
    ]
    noisy = disturbed(rows)
    if noisy:
        lines += [
            f"**Disturbed rows:** work outside the stack and the driver took more than {DISTURBED_PCT:g}% of one core "
            f"during {', '.join(noisy)}; their throughput and latency are lower than on a quiet machine.",
            "",
        ]
    shares = spread(rows)
    if shares:
        lines += ["Spread over the agent-service processes (% of one core each):", "", *shares, ""]
    lines += [
        "## Peak RSS (MB, largest process of the kind; Σ = sum of the processes' peaks)",
        "",
        *rss_table(rows),
        "",
    ]
    x = extrapolate(data)
    if x:
        lines += extrapolation_lines(x)
    lines += [
        "## Notes",
        "",
        "- Latency: from just before the request is produced to Kafka until its result is polled from the result "
        "topic; p50/p99 over requests sent in the measured window that returned ok. Throughput: results seen in the "
        "window per second.",
        "- CPU and RSS: psutil every 0.25 s (as in the main benchmark), per process, summed per kind; nginx "
        "includes its worker process. Everything else: the kernel and processes outside the stack.",
        "- On 2 cores more agent-service processes cannot add throughput: when the machine is saturated, they "
        "compete for the same cores with the brokers and Restate nodes.",
    ]
    return "\n".join(lines) + "\n"


def write(data: dict, out_dir: Path, stem: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / f"{stem}.md", "json": out_dir / f"{stem}.json"}
    data["extrapolation"] = extrapolate(data)
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    paths["md"].write_text(markdown(data))
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    config = config_from(args)
    if args.from_json:
        data = json.loads(args.from_json.read_text())
        name = args.name if args.name != ScalingConfig.name else args.from_json.stem
    else:
        try:
            data = run_scaling(config, " ".join(["python -m benchmarks.scaling", *argv]))
        except ScalingError as exc:
            print(f"scaling run error: {exc}", file=sys.stderr)
            return 2
        name = config.name
    paths = write(data, config.out, name)
    print(paths["md"].read_text())
    print(f"wrote {paths['md']}, {paths['json']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
