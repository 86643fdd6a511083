"""Runs one benchmark against the running local stack: every (model latency, variant, mode)
run, then the per-step overhead probe, the in-flight memory check and the profile.

The offline model's latency is changed for the run and restored afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from agentpipe import requests
from agentpipe.claim_keys import runs_pattern_sql
from agentpipe.settings import get_settings
from agentpipe.topics import request_topic, result_topic
from benchmarks import approvals, baselines, floor, flow, load, monitor, overhead, profile, report
from benchmarks.config import BenchConfig, derived_rate, open_rate_fraction, ordered_modes, slow_model_problem
from handlers.catalog import PATTERNS
from offline_model.client import OfflineModelControl
from producers.approval_key import approval_secret

# Patterns whose requests wait for a person cannot be benchmarked unattended.
UNATTENDED = [name for name in PATTERNS if name != "human-in-the-loop"]
# How long the floor's new subscription may take to deliver its first record (group join included).
FLOOR_PRIME_S = 60.0


class BenchError(Exception):
    pass


_STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {text}", file=sys.stderr, flush=True)


def ingress_path(pattern: str) -> str:
    p = PATTERNS[pattern]
    return f"/{p.service}/{{key}}/{p.handler}" if p.keyed else f"/{p.service}/{p.handler}"


def request_body(pattern: str) -> dict:
    # The same payload for every variant; other patterns run their example request.
    return {"message": requests.EXAMPLE_REPORT} if pattern == "chaining" else {}


def closed_capacity(runs: list[dict], latency: float) -> float | None:
    """The pipeline's closed-loop throughput at ``latency`` in this run (None: not measured)."""
    closed = next(
        (
            r
            for r in runs
            if r["variant"] == "restate-kafka" and r["mode"] == "closed" and r["model_latency_ms"] == latency
        ),
        None,
    )
    summary = closed["summary"] if closed else {}
    # Results seen in the window; a window too short to see any (a --quick run's cold first run)
    # falls back on what completed over it.
    return summary.get("throughput_rps") or round(summary.get("ok", 0) / summary.get("window_s", 1.0), 1) or None


class Bench:
    def __init__(
        self,
        config: BenchConfig,
        model: OfflineModelControl,
        sampler: monitor.ProcessSampler,
        watcher: load.ResultWatcher,
        run_id: str,
    ):
        self.config = config
        self.model = model
        self.sampler = sampler
        self.watcher = watcher
        self.run_id = run_id
        self.pattern = PATTERNS[config.pattern]
        self.body = request_body(config.pattern)

    def request_timeout(self, latency_ms: float) -> float:
        # Generous for a healthy pipeline, bounded for one that cannot keep up (the sequential baseline).
        return max(15.0, 10 * 3 * latency_ms / 1000)

    async def open_target(
        self, variant: str
    ) -> tuple[load.Target, baselines.BaselineProcess | floor.FloorProcess | None]:
        if variant in floor.KINDS:
            floor_kind = floor.KINDS[variant]
            deployment = floor.FloorProcess(floor_kind)
            self.sampler.watch("consumer", await deployment.start())
            target = load.KafkaTarget(variant, floor_kind.requests, floor_kind.results)
            # Its subscription is new: Restate's consumer joins the group before it delivers anything. One
            # request through it first, so the warm-up and the window measure delivery, not the group join
            # (a one-second --quick window could otherwise end before the first result).
            primed = await load.one_request(
                target, self.watcher, f"bench-{self.run_id}-floor-prime-{time.monotonic_ns()}", self.body, FLOOR_PRIME_S
            )
            if primed.status != "ok":
                await target.close()
                await deployment.stop()
                raise BenchError(
                    f"the floor's subscription delivered nothing within {FLOOR_PRIME_S:g} s ({primed.status})"
                )
            return target, deployment
        if variant == "restate-kafka":
            return load.KafkaTarget(variant, request_topic(self.pattern.name), result_topic(self.pattern.name)), None
        if variant == "restate-ingress":
            return load.IngressTarget(variant, ingress_path(self.pattern.name), result_topic(self.pattern.name)), None
        kind = variant.removeprefix("baseline-")
        process = baselines.BaselineProcess(kind)
        pid = await process.start()
        self.sampler.watch("consumer", pid)
        requests, results = baselines.bench_topics(kind)
        return load.KafkaTarget(variant, requests, results), process

    async def drive(self, target: load.Target, mode: str, id_prefix: str, timeout: float, rate: float) -> load.LoadRun:
        duration, warmup = self.config.duration, self.config.warmup
        if mode == "closed":
            return await load.closed_loop(
                target,
                self.watcher,
                self.body,
                in_flight=self.config.concurrency,
                duration=duration,
                warmup=warmup,
                id_prefix=id_prefix,
                request_timeout=timeout,
            )
        return await load.open_loop(
            target,
            self.watcher,
            self.body,
            rate=rate,
            duration=duration,
            warmup=warmup,
            id_prefix=id_prefix,
            request_timeout=timeout,
        )

    async def one_run(
        self,
        latency: float,
        variant: str,
        mode: str,
        rate: float | None = None,
        rate_basis: dict | None = None,
        tag: str = "",
        timeout: float | None = None,
    ) -> dict:
        """One load run; an open loop offers ``rate`` (default the configured one), derived as ``rate_basis`` says.

        ``tag`` sets its request ids apart from another run's of the same variant, mode and latency (a
        request id used twice is a repeat, which the pipeline drops). ``timeout`` replaces the
        per-request bound on waiting for a result.
        """
        rate = self.config.rate if rate is None else rate
        label = f"{variant} {mode} @ {latency:g} ms" + (f", {rate:g} req/s" if mode == "open" else "")
        say(f"run {label}")
        target, process = await self.open_target(variant)
        id_prefix = f"bench-{self.run_id}-{variant.split('-')[-1][:4]}-{mode}-{latency:g}{tag}"
        try:
            bound = self.request_timeout(latency) if timeout is None else timeout
            driven = await self.drive(target, mode, id_prefix, bound, rate)
        finally:
            await target.close()
            if process is not None:
                await process.stop()
                self.sampler.unwatch("consumer")
        summary = load.summarize(driven)
        resources = self.sampler.summary(*driven.window)
        worker = "consumer" if process is not None else "agent-service"  # the floor's process counts as one
        durable = variant.startswith("restate")
        cpu_ms = {name: cpu_ms_per_request(resources, name, summary) for name in (worker, "restate")}
        if variant in ("restate-kafka", "restate-ingress") and summary["ok"] < summary["sent"]:
            # Requests we stopped waiting for still run inside Restate; they must not load the next run.
            await wait_idle(self.pattern.service, self.pattern.name)
        say(
            f"  {summary['throughput_rps']} req/s, p50 {summary['latency_ms']['p50']} ms, "
            f"p99 {summary['latency_ms']['p99']} ms, ok {summary['ok']}/{summary['sent']}"
        )
        return {
            "variant": variant,
            "mode": mode,
            "model_latency_ms": latency,
            "in_flight": self.config.concurrency if mode == "closed" else None,
            "rate": rate if mode == "open" else None,
            "rate_basis": rate_basis if mode == "open" else None,
            "summary": summary,
            "resources": resources,
            "cpu_ms_per_request": {"worker": cpu_ms[worker], "restate": cpu_ms["restate"] if durable else None},
            "llm_calls_per_request": self.llm_calls_per_request(driven),
        }

    async def overload(self, latency: float, runs: list[dict]) -> list[dict]:
        """The pipeline's open loop at the configured multiples of its closed-loop throughput at ``latency``."""
        capacity = closed_capacity(runs, latency)
        if not self.config.overload or not capacity:
            return []
        over = []
        for multiple in self.config.overload:
            basis = {"multiple_of_capacity": multiple, "capacity_rps": capacity}
            rate = round(multiple * capacity, 1)
            # Above capacity the backlog, and with it every request's wait, grows for the whole run: a
            # per-request bound would stop counting results that do arrive in the window (goodput). Wait
            # instead for the backlog to drain, which also keeps it from loading the next run.
            drain = (self.config.warmup + self.config.duration) * multiple + 60
            over.append(
                await self.one_run(latency, "restate-kafka", "open", rate, basis, tag=f"-x{multiple:g}", timeout=drain)
            )
            await asyncio.sleep(0.5)
        return over

    def llm_calls_per_request(self, driven: load.LoadRun, sample: int = 20) -> float | None:
        ok = [o.request_id for o in driven.outcomes if o.status == "ok"]
        if not ok:
            return None
        picked = random.Random(0).sample(ok, min(sample, len(ok)))
        return round(sum(len(self.model.calls(request_id=rid)) for rid in picked) / len(picked), 2)

    async def overhead(self) -> dict:
        say("overhead per journaled step (0 ms model)")
        self.model.set_latency(0)
        count = self.config.overhead_requests
        _, direct_results = baselines.bench_topics("sequential")
        direct = await overhead.direct_probe(count, direct_results, self.body["message"])
        ingress = await overhead.ingress_probe(
            count, ingress_path("chaining"), self.body, f"bench-{self.run_id}-ovh-ingress"
        )
        # One at a time through Kafka, for the journal timestamps (each request's claim names its invocation).
        target = load.KafkaTarget("restate-kafka", request_topic("chaining"), result_topic("chaining"))
        try:
            ids = []
            for i in range(count):
                request_id = f"bench-{self.run_id}-ovh-kafka-{i}"
                ids.append((await load.one_request(target, self.watcher, request_id, self.body, 30)).request_id)
        finally:
            await target.close()
        journal = overhead.journal_step_gaps(PATTERNS["chaining"].service, ids)
        result = {
            "direct": direct,
            "ingress": ingress,
            "journal": journal,
            "per_step": overhead.per_step_overhead(direct, ingress, journal),
        }
        say(f"  per step: A {result['per_step']['method_a_ms']} ms, B {result['per_step']['method_b_ms']} ms")
        return result

    async def in_flight(self) -> dict:
        if self.config.in_flight_kind == "approvals":
            return await self.approvals_in_flight()
        return await self.slow_model_in_flight()

    async def approvals_in_flight(self) -> dict:
        count = self.config.in_flight
        say(f"{count} human-in-the-loop requests waiting for approval (0 ms model)")
        self.model.set_latency(0)
        await asyncio.sleep(1.0)
        return await approvals.in_flight(
            count, self.config.in_flight_hold, self.sampler, f"bench-{self.run_id}-approve", say
        )

    async def slow_model_in_flight(self) -> dict:
        count, latency = self.config.in_flight, self.config.in_flight_latency
        say(f"{count} invocations in flight ({latency:g} ms model)")
        self.model.set_latency(latency)
        await asyncio.sleep(1.0)
        rss_before = self.sampler.summary(time.monotonic() - 1.0, time.monotonic()).get("agent-service", {})
        target = load.KafkaTarget("restate-kafka", request_topic(self.pattern.name), result_topic(self.pattern.name))
        running: list[int] = []
        stop = asyncio.Event()

        async def watch_running() -> None:
            query = (
                "SELECT count(*) AS n FROM sys_invocation "
                f"WHERE {runs_pattern_sql(self.pattern.service, self.pattern.name)} AND status = 'running'"
            )
            while not stop.is_set():
                try:
                    rows = await asyncio.to_thread(monitor.sql, query, 5.0)
                    running.append(int(rows[0]["n"]) if rows else 0)
                except Exception:  # noqa: BLE001 - introspection is best effort
                    pass
                await asyncio.sleep(1.0)

        watcher_task = asyncio.create_task(watch_running())
        try:
            driven = await load.burst(
                target,
                self.watcher,
                self.body,
                count=count,
                id_prefix=f"bench-{self.run_id}-inflight",
                request_timeout=120 + 6 * latency / 1000,
            )
        finally:
            stop.set()
            await watcher_task
            await target.close()
        resources = self.sampler.summary(*driven.window)
        summary = load.summarize(driven)
        seen = load.results_seen(driven.outcomes)
        result = {
            "kind": "slow-model",
            "requests": count,
            "model_latency_ms": latency,
            "service": self.pattern.service,
            "ok": summary["ok"],
            "seconds": driven.window[1] - driven.window[0],
            "latency_ms": summary["latency_ms"],
            "max_running": max(running) if running else None,
            "results": seen,
            "lost": count - seen,
            "agent_rss_before_mb": round(rss_before.get("rss_mean_mb", 0), 1),
            "agent_rss_max_mb": resources.get("agent-service", {}).get("rss_max_mb"),
            "restate_rss_max_mb": resources.get("restate", {}).get("rss_max_mb"),
        }
        say(
            f"  ok {result['ok']}/{count} in {result['seconds']:.1f} s, agent RSS max {result['agent_rss_max_mb']} MB, "
            f"running max {result['max_running']}"
        )
        if summary["ok"] < count:
            await wait_idle(self.pattern.service, self.pattern.name)
        return result

    async def profile(self, pid: int) -> dict:
        seconds, latency = self.config.profile_seconds, self.config.profile_latency
        say(
            f"profiling the agent service for {seconds:g} s "
            f"(closed loop N={self.config.concurrency}, {latency:g} ms model)"
        )
        self.model.set_latency(latency)
        out = Path(self.config.out)
        out.mkdir(parents=True, exist_ok=True)
        raw = out / f".{self.config.name}-profile.raw"
        target = load.KafkaTarget("restate-kafka", request_topic(self.pattern.name), result_topic(self.pattern.name))

        async def record_after_warmup() -> str | None:
            await asyncio.sleep(1.0)
            return await profile.record(pid, seconds, raw)

        try:
            driven, error = await asyncio.gather(
                load.closed_loop(
                    target,
                    self.watcher,
                    self.body,
                    in_flight=self.config.concurrency,
                    duration=seconds + 1.0,
                    warmup=1.0,
                    id_prefix=f"bench-{self.run_id}-profile",
                    request_timeout=self.request_timeout(latency),
                ),
                record_after_warmup(),
            )
        finally:
            await target.close()
        if error:
            say(f"  {error}")
            return {"error": error}
        summary = load.summarize(driven)
        cpu = self.sampler.summary(*driven.window).get("agent-service", {}).get("cpu_mean_pct")
        context = (
            f"restate-kafka closed loop N={self.config.concurrency}, {latency:g} ms model, "
            f"{summary['throughput_rps']} req/s, agent service at {cpu}% CPU, py-spy {seconds:g} s"
        )
        stats = profile.summarize(profile.parse(raw))
        file = out / ("profile.txt" if self.config.name == "latest" else f"{self.config.name}-profile.txt")
        file.write_text(profile.render(stats, context))
        # The raw collapsed stacks stay beside it (git-ignored) for flame graphs.
        return {"context": context, "file": file.name, "raw": raw.name, "summary": stats}


def open_rate(fraction: float, runs: list[dict], latency: float, fallback: float) -> tuple[float, dict]:
    """The open loop's rate at ``latency``: ``fraction`` of (b)'s closed-loop throughput in ``runs``, and its basis.

    When (b) has no closed run at that latency or completed nothing, the fixed rate ``fallback``.
    """
    baseline = next(
        (
            r
            for r in runs
            if (r["variant"], r["mode"], r["model_latency_ms"]) == ("baseline-concurrent", "closed", latency)
        ),
        None,
    )
    baseline_rps = baseline["summary"]["throughput_rps"] if baseline else None
    rate = derived_rate(fraction, baseline_rps)
    basis = {"fraction": fraction, "baseline_variant": "baseline-concurrent", "baseline_rps": baseline_rps}
    if rate is None:
        say(f"warning: (b) completed nothing in its closed loop at {latency:g} ms; open loop at {fallback:g} req/s")
        return fallback, {**basis, "fallback": True}
    say(f"open loop at {latency:g} ms: {fraction:g} × {baseline_rps} req/s of (b) = {rate:g} req/s")  # noqa: RUF001
    return rate, basis


def agent_llm_timeout_s(pid: int) -> float:
    """The LLM timeout of the running agent service: from its environment, else the default of the settings."""
    try:
        value = psutil.Process(pid).environ().get("AGENTPIPE_LLM_TIMEOUT_S")
        if value is not None:
            return float(value)
    except (psutil.Error, ValueError):
        pass
    return get_settings().llm_timeout_s


def check_in_flight(config: BenchConfig, agent_pid: int) -> None:
    """Refuse an in-flight check that cannot measure what it is for, before any run."""
    if config.in_flight <= 0:
        return
    if config.in_flight_kind == "slow-model":
        problem = slow_model_problem(config.in_flight_latency, agent_llm_timeout_s(agent_pid))
        if problem:
            raise BenchError(problem)
    elif approval_secret() is None:
        raise BenchError(
            "--in-flight-kind approvals signs approval events: set AGENTPIPE_APPROVAL_KEY or use the stack's "
            f"state folder ({get_settings().state_dir}/approval.key); or --in-flight 0 to skip the check"
        )


def cpu_ms_per_request(resources: dict, name: str, summary: dict) -> float | None:
    """CPU time one process spent per completed request in the window (less sensitive to other load than latency)."""
    cpu = resources.get(name, {}).get("cpu_mean_pct")
    if cpu is None or not summary["throughput_rps"]:
        return None
    return round(cpu / 100 * 1000 / summary["throughput_rps"], 2)


async def wait_idle(service: str, pattern: str, timeout: float = 180.0) -> None:
    """Until Restate has no unfinished invocation of the service (left over from requests we gave up on).

    Two idle readings in a row, since records still in Kafka become invocations one by one.
    """
    query = (
        f"SELECT count(*) AS n FROM sys_invocation WHERE {runs_pattern_sql(service, pattern)} AND status != 'completed'"
    )
    deadline = time.monotonic() + timeout
    idle = 0
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(monitor.sql, query)
        idle = idle + 1 if not rows or int(rows[0]["n"]) == 0 else 0
        if idle >= 2:
            return
        await asyncio.sleep(1.0)
    say(f"warning: {service} still has unfinished invocations after {timeout:.0f}s")


async def run_benchmark(config: BenchConfig, command: str) -> tuple[dict, dict[str, Path]]:
    settings = get_settings()
    if config.pattern not in UNATTENDED:
        raise BenchError(f"pattern must be one of {', '.join(UNATTENDED)}")
    if config.compare and not Path(config.compare).is_file():
        raise BenchError(f"--compare: {config.compare} is not a file")
    if not settings.uses_offline_model:
        raise BenchError(
            "the benchmark drives the offline model (it sets its latency); unset OPENAI_API_KEY and OPENAI_BASE_URL"
        )
    try:
        pids = monitor.stack_pids()
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None
    if "agent-service" not in pids or "restate" not in pids:
        raise BenchError(f"the stack is not fully running (found {', '.join(pids) or 'nothing'}); run `agentpipe up`")
    model = OfflineModelControl(settings.offline_model_url)
    if not model.health():
        raise BenchError(f"the offline model does not answer at {settings.offline_model_url}")
    if config.pattern != "chaining":
        # The plain-consumer baselines and the overhead probe implement the chaining pattern only.
        config.variants = [v for v in config.variants if v in ("restate-kafka", "restate-ingress")]
        config.overhead_requests = 0
    try:
        fraction = open_rate_fraction(config)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    check_in_flight(config, pids["agent-service"])

    seconds = 1.0 if config.quick else 5.0
    say(f"measuring background load ({seconds:g} s)")
    background = monitor.background_load(seconds, exclude=set(pids.values()))
    baselines.ensure_bench_topics()
    floor.ensure_floor_topics()
    previous_latency = model.state().get("latency_ms", 0.0)
    watched: dict[str, int] = {
        name: pids[name] for name in ("agent-service", "restate", "offline-model", "kafka") if name in pids
    }
    sampler = monitor.ProcessSampler({**watched, "driver": os.getpid()}).start()
    bench_results = [baselines.bench_topics(kind)[1] for kind in baselines.KINDS] + [
        floor_kind.results for floor_kind in floor.KINDS.values()
    ]
    watcher = load.ResultWatcher([result_topic(config.pattern), *bench_results], asyncio.get_running_loop())
    bench = Bench(config, model, sampler, watcher, load.new_run_id())
    runs: list[dict] = []
    open_rates: dict[str, float] = {}
    overhead_result = in_flight = profile_result = limited = batch = None
    try:
        for latency in config.latencies:
            model.set_latency(latency)
            rate, basis = config.rate, None
            for mode in ordered_modes(config.modes):  # closed first: the open loop's rate may come from (b)'s
                if mode == "open" and fraction:
                    rate, basis = open_rate(fraction, runs, latency, config.rate)
                    open_rates[f"{latency:g}"] = rate
                for variant in config.variants:
                    runs.append(await bench.one_run(latency, variant, mode, rate, basis))
                    await asyncio.sleep(0.5)
            runs += await bench.overload(latency, runs)
        if config.overhead_requests > 0:
            overhead_result = await bench.overhead()
        if config.in_flight > 0:
            in_flight = await bench.in_flight()
        if config.profile_seconds > 0:
            profile_result = await bench.profile(pids["agent-service"])
        if config.limited > 0:
            model.set_latency(config.latencies[0])
            say(f"a backlog of {config.limited} against a provider limited to {config.limited_rate:g} calls/s")
            limited = await flow.limited_drain(
                watcher, model, bench.run_id, config.limited, config.limited_rate, bench.body.get("message", "")
            )
            say(f"  {limited}")
        if config.batch > 0:
            latency = config.latencies[0]
            model.set_latency(latency)
            say(f"a batch of {config.batch} at once, no provider limit")
            batch = await flow.batch_drain(
                watcher, sampler, bench.run_id, config.batch, bench.body, closed_capacity(runs, latency)
            )
            say(f"  {batch}")
    finally:
        model.set_latency(previous_latency)
        watcher.close()
        sampler.stop()
        model.close()
    data = {
        "pattern": config.pattern,
        "label": config.label,
        "quick": config.quick,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": monitor.machine(),
        "background_load": background,
        "config": {
            "latencies_ms": config.latencies,
            "modes": config.modes,
            "variants": config.variants,
            "concurrency": config.concurrency,
            "rate": config.rate,
            # The open loop ran at this fraction of (b)'s closed-loop throughput (None: at the fixed rate),
            # per model latency (ms) at these rates (req/s).
            "open_rate_of_baseline": fraction,
            "open_rates_rps": open_rates or None,
            "duration_s": config.duration,
            "warmup_s": config.warmup,
            "partitions": settings.request_partitions,
            "in_flight_kind": config.in_flight_kind if config.in_flight > 0 else None,
        },
        "runs": runs,
        "overhead": overhead_result,
        "in_flight": in_flight,
        "profile": profile_result,
        "limited": limited,
        "batch": batch,
    }
    if config.compare:
        before = json.loads(Path(config.compare).read_text())
        before.pop("compared_with", None)  # one level is enough
        data["compared_with"] = before
    return data, report.write(data, Path(config.out), config.name)
