"""The benchmark's outputs: a markdown table (printed and saved), a PNG plot and the raw numbers as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import flow
from benchmarks.markdown import table

LABELS = {
    "restate-kafka": "Restate via Kafka (durable)",
    "restate-ingress": "(c) Restate via HTTP ingress",
    "restate-floor": "(f) Restate floor: no-op handler, one journaled publish",
    "restate-shape": "(g) durable shape without LLM: hand-on, claim, 3 instant steps, journaled publish",
    "baseline-sequential": "(a) plain consumer, sequential per partition",
    "baseline-concurrent": "(b) plain consumer, asyncio, no durability",
}
SHORT = {
    "restate-kafka": "Restate+Kafka",
    "restate-ingress": "(c) ingress",
    "restate-floor": "(f) floor",
    "restate-shape": "(g) shape",
    "baseline-sequential": "(a) sequential",
    "baseline-concurrent": "(b) asyncio",
}
MISSING = "–"  # noqa: RUF001 - an en dash stands for a number that is missing

Getter = Callable[[dict], Any]


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def _load(run: dict) -> str:
    return f"N={run['in_flight']}" if run["mode"] == "closed" else f"{run['rate']:g}/s"


def _resource(run: dict, name: str, key: str = "rss_max_mb") -> str:
    return _fmt(run["resources"].get(name, {}).get(key))


def runs_table(runs: list[dict]) -> list[str]:
    head = [
        "model",
        "mode",
        "load",
        "variant",
        "sent",
        "ok",
        "throughput req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "LLM calls/req",
        "CPU ms/req worker / restate",
        "RSS MB agent / restate / consumer",
    ]
    rows = []
    for run in runs:
        s, lat = run["summary"], run["summary"]["latency_ms"]
        cpu = run.get("cpu_ms_per_request", {})
        rss = " / ".join(_resource(run, n) for n in ("agent-service", "restate", "consumer"))
        rows.append(
            [
                f"{run['model_latency_ms']:g} ms",
                run["mode"],
                _load(run),
                LABELS[run["variant"]],
                s["sent"],
                s["ok"],
                _fmt(s["throughput_rps"], 1),
                _fmt(lat["p50"]),
                _fmt(lat["p95"]),
                _fmt(lat["p99"]),
                _fmt(run.get("llm_calls_per_request"), 1),
                f"{_fmt(cpu.get('worker'), 1)} / {_fmt(cpu.get('restate'), 1)}",
                rss,
            ]
        )
    return table(head, "rlrlrrrrrrrrr", rows)


CPU_COLUMNS = ("agent-service", "restate", "consumer", "offline-model", "kafka", "driver")


def cpu_table(runs: list[dict]) -> list[str]:
    head = ["model", "mode", "variant", *CPU_COLUMNS, "everything else", "whole machine"]
    rows = []
    for run in runs:
        res = run["resources"]
        rows.append(
            [
                f"{run['model_latency_ms']:g} ms",
                run["mode"],
                SHORT[run["variant"]],
                *(_fmt(res.get(n, {}).get("cpu_mean_pct")) for n in CPU_COLUMNS),
                _fmt(res.get("others_cpu_pct")),
                _fmt(res.get("system_cpu_pct")),
            ]
        )
    return table(head, "rll" + "r" * (len(CPU_COLUMNS) + 2), rows)


def _cpu_sum(run: dict) -> float | None:
    """CPU ms per request of a durable run's worker and restate-server together."""
    cpu = run.get("cpu_ms_per_request") or {}
    if cpu.get("worker") is None or cpu.get("restate") is None:
        return None
    return float(cpu["worker"] + cpu["restate"])


KEEPS_UP = 0.98  # an open loop keeps up when it completes at least this share of the rate it offers


def open_loop_targets(runs: list[dict]) -> list[dict]:
    """Per model latency whose open loop ran at a share of (b)'s closed-loop throughput: does the pipeline keep up
    (completed rate ≥ 98 % of offered) with p99 ≤ 2 × (b)'s p99 at that rate?"""  # noqa: RUF002
    out = []
    for ours in runs:
        basis = ours.get("rate_basis") or {}
        if (ours["variant"], ours["mode"]) != ("restate-kafka", "open") or not basis or basis.get("fallback"):
            continue
        if "fraction" not in basis:  # an open loop above capacity (--overload): its own section
            continue
        latency, offered = ours["model_latency_ms"], ours["rate"]
        theirs = next(
            (
                r
                for r in runs
                if (r["variant"], r["mode"], r["model_latency_ms"]) == ("baseline-concurrent", "open", latency)
            ),
            None,
        )
        completed = ours["summary"]["throughput_rps"]
        keeps_up = completed >= KEEPS_UP * offered
        p99 = ours["summary"]["latency_ms"]["p99"]
        b_p99 = theirs["summary"]["latency_ms"]["p99"] if theirs else None
        compared = f"p99 {_fmt(p99)} against (b)'s {_fmt(b_p99)} ms"
        latency_ok: bool | None = None  # nothing of (b) to compare with
        if p99 is None:
            latency_ok = False  # no request of the window finished in time
        elif b_p99:
            latency_ok = p99 <= 2 * b_p99
            compared += f" ({p99 / b_p99:.2f} ×)"  # noqa: RUF001
        out.append(
            {
                "name": f"open loop at {basis['fraction']:.0%} of (b)'s closed-loop {_fmt(basis['baseline_rps'], 1)} "
                f"req/s, {latency:g} ms model: keeps up, p99 against (b) at that rate",
                "goal": "completed ≥ 98 % of offered; p99 ≤ 2 × (b)'s",  # noqa: RUF001
                "measured": f"offered {offered:g}, completed {_fmt(completed, 1)} req/s "
                f"({completed / offered:.0%}{'' if keeps_up else ': falls behind'}); {compared}",
                "met": latency_ok if keeps_up else False,
            }
        )
    return out


def durability_alone(shape: dict | None, b: dict | None) -> dict | None:
    """(g) prices the pipeline's durable shape with no LLM work: a lower bound on what durability adds to (b).
    Target 2 allows durability 0.5 × (b)'s consumer; a shape above that puts target 2 out of reach here."""  # noqa: RUF002
    cpu = _cpu_sum(shape) if shape else None
    if shape is None or cpu is None:
        return None
    theirs = (b or {}).get("cpu_ms_per_request", {}).get("worker")
    parts = shape["cpu_ms_per_request"]
    measured = (
        f"{_fmt(shape['summary']['throughput_rps'], 1)} req/s at {cpu:.1f} ms/req "
        f"(handler {parts['worker']:.1f} + restate {parts['restate']:.1f})"
    )
    if theirs:
        allowance = 0.5 * theirs
        verdict = "over it: target 2 is out of reach on this machine" if cpu > allowance else "within it"
        measured += f"; target 2 allows durability {allowance:.1f} ms (0.5 × (b)'s {theirs:.1f}): {verdict}"  # noqa: RUF001
    return {
        "name": "durability alone: (g) the pipeline's durable shape with no LLM work, same load",
        "goal": "measured (a lower bound on what durability adds to (b))",
        "measured": measured,
        "met": None,
    }


def targets(data: dict) -> list[dict]:
    """The targets against this run (recomputed whenever the report is rendered)."""
    runs = data["runs"]

    def find(variant: str, mode: str, latency: float) -> dict | None:
        wanted = (variant, mode, latency)
        return next((r for r in runs if (r["variant"], r["mode"], r["model_latency_ms"]) == wanted), None)

    out = []
    # Capacity is what the closed loop reaches; an open loop cannot show more than the rate it offers.
    durable = find("restate-kafka", "closed", 100) or find("restate-kafka", "open", 100)
    if durable:
        rps = durable["summary"]["throughput_rps"]
        load = _load(durable)
        out.append(
            {
                "name": "chaining, 100 ms model: sustained throughput",
                "goal": "≥ 200 req/s",
                "measured": f"{rps} req/s ({durable['mode']} loop, {load})",
                "met": rps >= 200,
            }
        )
        b = find("baseline-concurrent", durable["mode"], 100)
        if b and b["summary"]["throughput_rps"]:
            share = rps / b["summary"]["throughput_rps"]
            out.append(
                {
                    "name": "… relative to baseline (b), same load",
                    "goal": "≥ 85 %",
                    "measured": f"{share:.0%} of {b['summary']['throughput_rps']} req/s",
                    "met": share >= 0.85,
                }
            )
            ours, theirs = _cpu_sum(durable), (b.get("cpu_ms_per_request") or {}).get("worker")
            if ours and theirs:
                out.append(
                    {
                        "name": "CPU per request: agent service + restate-server against (b)'s consumer",
                        "goal": "≤ 1.5 ×",  # noqa: RUF001
                        "measured": f"{ours:.1f} ms against {theirs:.1f} ms: {ours / theirs:.2f} ×",  # noqa: RUF001
                        "met": ours / theirs <= 1.5,
                    }
                )
        floor = find("restate-floor", durable["mode"], 100)
        if floor and floor["summary"]["throughput_rps"]:
            floor_rps, floor_cpu = floor["summary"]["throughput_rps"], _cpu_sum(floor)
            ours = _cpu_sum(durable)
            extra = f"; CPU {ours:.1f} against {floor_cpu:.1f} ms/req" if ours and floor_cpu else ""
            out.append(
                {
                    "name": "orchestration overhead: the pipeline against the Restate floor, same load",
                    "goal": "measured",
                    "measured": f"{rps} against {floor_rps} req/s ({rps / floor_rps:.0%}){extra}",
                    "met": None,
                }
            )
        shape_row = durability_alone(find("restate-shape", durable["mode"], 100), b)
        if shape_row:
            out.append(shape_row)
    at_rate = find("restate-kafka", "open", 100)
    if at_rate:
        p99 = at_rate["summary"]["latency_ms"]["p99"]
        goal = 3 * 300
        rate = at_rate.get("rate") or data["config"]["rate"]  # older reports kept the rate in the config only
        other = "" if rate == 100 else "; the goal is at 100 req/s: measure it with --rate 100"
        out.append(
            {
                "name": f"p99 end to end at {rate:g} req/s, 100 ms model",
                "goal": f"≤ {goal} ms (3 × 3 × 100 ms) at 100 req/s",  # noqa: RUF001
                "measured": f"{_fmt(p99)} ms ({at_rate['summary']['ok']}/{at_rate['summary']['sent']} ok{other})",
                "met": (p99 is not None and p99 <= goal) if rate == 100 else None,
            }
        )
    out += open_loop_targets(runs)
    overhead = data.get("overhead")
    if overhead:
        per = overhead["per_step"]
        measured = per["method_b_ms"] if per["method_b_ms"] is not None else per["method_a_ms"]
        out.append(
            {
                "name": "overhead per journaled step, 0 ms model",
                "goal": "≤ 5 ms median",
                "measured": f"B {per['method_b_ms']} ms, A {per['method_a_ms']} ms",
                "met": measured <= 5,
            }
        )
    in_flight = data.get("in_flight")
    if in_flight and in_flight.get("kind") == "approvals":
        out.append(approvals_target(in_flight))
    elif in_flight:
        rss = in_flight["agent_rss_max_mb"]
        out.append(
            {
                "name": f"{in_flight['requests']} invocations in flight: agent service RSS",
                "goal": "< 300 MB with 1,000 in flight",
                "measured": f"{rss} MB (max {_fmt(in_flight['max_running'])} running at once)",
                "met": None if in_flight["requests"] < 1000 else (rss is not None and rss < 300),
            }
        )
    return out


AGENT_RSS_MB, RESTATE_RSS_MB, IN_FLIGHT_GOAL = 300, 1024, 10_000


def approvals_target(f: dict) -> dict:
    """N requests all waiting for a person: RSS of the agent service and restate-server, and none lost."""
    agent, restate, lost = f["agent_rss_max_mb"], f["restate_rss_max_mb"], f["lost"]
    held = (
        agent is not None
        and agent < AGENT_RSS_MB
        and restate is not None
        and restate < RESTATE_RSS_MB
        and lost == 0
        and f["all_waiting"]
    )
    return {
        "name": f"{f['requests']:,} requests waiting for approval ({f['invocations_per_request'] * f['requests']:,} "
        "invocations): memory, none lost",
        "goal": f"agent service < {AGENT_RSS_MB} MB, restate-server < 1 GB, 0 lost, with {IN_FLIGHT_GOAL:,} in flight",
        "measured": f"agent {_fmt(agent, 1)} MB, restate {_fmt(restate, 1)} MB, lost {lost} "
        f"({f['max_waiting']:,} of {f['requests']:,} waiting at once)",
        "met": None if f["requests"] < IN_FLIGHT_GOAL else held,
    }


def targets_table(targets: list[dict]) -> list[str]:
    met = {True: "yes", False: "no", None: "n/a"}
    rows = [[t["name"], t["goal"], t["measured"], met[t["met"]]] for t in targets]
    return table(["target", "goal", "measured", "met"], "llll", rows)


def _open_loop_rate(cfg: dict) -> str:
    fraction, rates = cfg.get("open_rate_of_baseline"), cfg.get("open_rates_rps")
    if not fraction or not rates:
        return f"open loop offers {cfg['rate']:g} requests/s"
    at = ", ".join(f"{rate:g} req/s at {latency} ms" for latency, rate in rates.items())
    return (
        f"open loop offers {fraction:.0%} of (b)'s closed-loop throughput at the same model latency, measured "
        f"just before in this run ({at})"
    )


def _during(runs: list[dict]) -> str:
    others = [r["resources"].get("others_cpu_pct") for r in runs if r["resources"].get("others_cpu_pct") is not None]
    if not others:
        return ""
    return (
        f"During the runs, work outside the benchmarked processes took {sum(others) / len(others):.0f}% of one "
        f"core on average (between {min(others):.0f}% and {max(others):.0f}% per run), "
        "so absolute numbers are noisy."
    )


def _pair(before: dict, after: dict, get: Getter, digits: int = 0) -> str:
    return f"{_fmt(get(before), digits)} → {_fmt(get(after), digits)}"


def compare_table(before: dict, after: dict) -> list[str]:
    """Key numbers of the same (model, mode, variant) runs side by side."""

    def key(run: dict) -> tuple:
        return run["model_latency_ms"], run["mode"], run["variant"]

    earlier = {key(r): r for r in before.get("runs", [])}
    rows: list[list[object]] = []
    for run in after["runs"]:
        old = earlier.get(key(run))
        if old is None:
            continue
        rows.append(
            [
                f"{run['model_latency_ms']:g} ms",
                run["mode"],
                SHORT[run["variant"]],
                _pair(old, run, lambda r: r["summary"]["throughput_rps"], 1),
                _pair(old, run, lambda r: r["summary"]["latency_ms"]["p50"]),
                _pair(old, run, lambda r: r["summary"]["latency_ms"]["p99"]),
                _pair(old, run, lambda r: r.get("cpu_ms_per_request", {}).get("worker"), 1),
            ]
        )
    o_before, o_after = before.get("overhead"), after.get("overhead")
    if o_before and o_after:
        rows.append(
            [
                "0 ms",
                "overhead/step",
                "Restate",
                None,
                None,
                None,
                f"A {o_before['per_step']['method_a_ms']} → {o_after['per_step']['method_a_ms']} ms, "
                f"B {o_before['per_step']['method_b_ms']} → {o_after['per_step']['method_b_ms']} ms",
            ]
        )
    f_before, f_after = before.get("in_flight"), after.get("in_flight")
    kind = (f_after or {}).get("kind", "slow-model")
    if f_before and f_after and f_before.get("kind", "slow-model") == kind:
        what = "waiting approvals" if kind == "approvals" else "in flight"
        rows.append(
            [
                f"{f_after['model_latency_ms']:g} ms",
                f"{f_after['requests']} {what}",
                "agent RSS max",
                None,
                None,
                None,
                f"{f_before['agent_rss_max_mb']} → {f_after['agent_rss_max_mb']} MB",
            ]
        )
    head = ["model", "mode", "variant", "throughput req/s", "p50 ms", "p99 ms", "worker CPU ms/req"]
    return table(head, "rllrrrr", rows)


def _comparison(data: dict) -> list[str]:
    before = data.get("compared_with")
    if not before:
        return []
    return [
        f"## Before → after ({before.get('label') or before.get('generated_at')} → "
        f"{data.get('label') or data['generated_at']})",
        "",
        *compare_table(before, data),
        "",
    ]


def markdown(data: dict) -> str:
    m, bg, cfg = data["machine"], data["background_load"], data["config"]
    lines = [
        f"# agentpipe benchmark — {data['pattern']}{' (quick smoke run)' if data['quick'] else ''}",
        "",
        f"Generated {data['generated_at']} by `{data['command']}`.",
        "",
        f"Machine: {m['cpu_model']}, {m['cpus']} cores ({m['cpus_usable']} usable), {m['memory_gb']} GB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}. Everything runs on it: Kafka, restate-server, the agent "
        "service, the offline model (a deterministic stand-in for an LLM) and the load driver.",
        f"Before the run the machine was {bg['system_cpu_pct']:.0f}% busy (load average {bg['loadavg_1m']}; "
        f"processes outside the stack took {bg['other_processes_cpu_pct']:.0f}% of one core). {_during(data['runs'])}",
        "",
        f"Per variant: {cfg['warmup_s']:g} s warm-up, then {cfg['duration_s']:g} s measured. Closed loop keeps "
        f"N={cfg['concurrency']} requests in flight; {_open_loop_rate(cfg)}.",
        "",
        *([f"Run label: **{data['label']}**", ""] if data.get("label") else []),
        "## Targets",
        "",
        *targets_table(data["targets"]),
        "",
        *(_comparison(data)),
        "## Runs",
        "",
        *runs_table(data["runs"]),
        "",
        f"CPU by process during each run (mean % of one core; the machine has {m['cpus'] * 100}%; the driver is "
        "this benchmark's own process; everything else = other work on the machine, e.g. other sessions' stacks):",
        "",
        *cpu_table(data["runs"]),
        "",
    ]
    lines += flow.overload_section(data["runs"])
    if data.get("limited"):
        lines += flow.limited_section(data["limited"])
    if data.get("batch"):
        lines += flow.batch_section(data["batch"])
    if data.get("overhead"):
        o = data["overhead"]
        lines += [
            "## Overhead per journaled step (0 ms model, one request at a time)",
            "",
            *table(
                ["measure", "value"],
                "lr",
                [
                    ["direct LLM call (this process, openai client), p50", f"{o['direct']['llm_call_ms_p50']} ms"],
                    ["direct result publish (acks=all), p50", f"{o['direct']['publish_ms_p50']} ms"],
                    ["direct request: 3 LLM calls + publish, p50", f"{o['direct']['request_ms_p50']} ms"],
                    ["Restate handler over HTTP ingress, reply p50", f"{o['ingress']['reply_ms_p50']} ms"],
                    [
                        "journal: gap between LLM step completions, p50 / mean",
                        f"{_fmt(o['journal']['llm_step_gap_ms_p50'], 1)} / "
                        f"{_fmt(o['journal']['llm_step_gap_ms_mean'], 2)} ms",
                    ],
                    ["journal: invocation input → output, p50", f"{_fmt(o['journal']['invocation_ms_p50'], 1)} ms"],
                    [
                        "**A: (ingress reply − direct request) / 4 steps**",  # noqa: RUF001
                        f"**{o['per_step']['method_a_ms']} ms**",
                    ],
                    [
                        "**B: journal step gap − direct LLM call (p50; mean)**",  # noqa: RUF001
                        f"**{_fmt(o['per_step']['method_b_ms'], 2)} ms; "
                        f"{_fmt(o['per_step']['method_b_mean_ms'], 2)} ms**",
                    ],
                ],
            ),
            "",
            "A charges invocation start/end (HTTP ingress, first journal write, output) to the 4 steps "
            "(3 LLM calls + publish), so it is an upper bound. B reads Restate's `sys_journal` timestamps "
            "(1 ms resolution) of requests that came through Kafka: for the 2nd and 3rd LLM step the time between "
            "consecutive `Notification: Run` entries covers acking the previous step, resuming the handler, "
            "journaling the next command, the model call and journaling its result; the direct model call time "
            "is subtracted.",
            "",
        ]
    if (data.get("in_flight") or {}).get("kind") == "approvals":
        lines += approvals_section(data["in_flight"])
    elif data.get("in_flight"):
        f = data["in_flight"]
        lines += [
            f"## {f['requests']} invocations in flight ({f['model_latency_ms']:g} ms model, all produced at once)",
            "",
            f"Completed {f['ok']}/{f['requests']} in {f['seconds']:.1f} s; at most {_fmt(f['max_running'])} "
            f"invocations of {f['service']} were running at once (Restate SQL, sampled each second). "
            f"Agent service RSS: {f['agent_rss_before_mb']} MB before, max {f['agent_rss_max_mb']} MB while in flight. "
            f"restate-server RSS max {f['restate_rss_max_mb']} MB.",
            "",
        ]
    profile = data.get("profile") or {}
    if profile.get("error"):
        lines += ["## Profile", "", f"Not recorded: {profile['error']}", ""]
    elif profile:
        lines += [
            "## Profile of the agent service under load",
            "",
            f"{profile['context']}. Full listing: `{profile['file']}`.",
            "",
            *table(["package (self time)", "% of GIL-holding samples"], "lr", profile["summary"]["packages"][:8]),
            "",
            f"Self time inside our code (handlers/, agentpipe/): {profile['summary']['ours_self_pct']}%.",
            "",
        ]
        hottest = profile["summary"].get("hottest_ours")
        if hottest:
            share = dict(profile["summary"]["ours_inclusive"]).get(hottest)
            below = profile["summary"]["inside_hottest_ours"]
            lines += [
                f"Hottest frame of our code: `{hottest}`, {share}% of samples inclusive. Self time below it:",
                "",
                *table(["package", "% of GIL-holding samples"], "lr", below["packages"][:8]),
                "",
            ]
    lines += [
        "## Notes",
        "",
        "- Latency: from just before the request is produced to Kafka (or POSTed to the ingress) until its result "
        "record is polled from the result topic, on the driver's monotonic clock; p50/p95/p99 over requests sent "
        "in the measured window that returned status ok. Throughput: results seen in the window per second.",
        "- Every variant does the same work: the three chaining prompts (`handlers.prompts`) against the same "
        "offline model server, and a result record published with acks=all. The Restate variants journal each step; "
        "the baselines consume their own copy of the request topic (`bench.requests.*`) and publish to their own "
        "result topic, so they never compete with the Restate subscription.",
        "- (a) processes one record at a time per partition (4 partitions) and commits after the result is acked; "
        "(b) runs every record as its own task (up to 1000) and commits on poll (a crash loses in-flight work).",
        "- LLM calls per request: from the offline model's call log for a sample of the run's request ids.",
        "- Open loop at a share of (b)'s throughput: every variant's open loop at a model latency offers the same "
        "rate, derived from (b)'s closed loop at that latency (closed loops run first). The pipeline keeps up when "
        f"it completes at least {KEEPS_UP:.0%} of the offered rate (results seen in the measured window per second); "
        "its p99 is compared with (b)'s open loop at the same rate.",
        "- A request whose result does not arrive within max(15 s, 30 × the model latency) counts as not ok; "  # noqa: RUF001
        f"`{MISSING}` means no request sent in the measured window finished in time (the variant cannot keep up: "
        "(a) handles 4 requests at a time, one per partition).",
        "- RSS: max over the measured window, sampled every 0.25 s with psutil (consumer = the baseline's own "
        "process). CPU ms/req: CPU time of the process doing the work (agent service, or the baseline consumer) and "
        "of restate-server per completed request; it is less sensitive to the rest of the machine than latency.",
    ]
    return "\n".join(lines) + "\n"


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items())) or "none"


def approvals_section(f: dict) -> list[str]:
    n = f["requests"]
    if f["all_waiting"]:
        reached = (
            f"All {n:,} reached their review {f['seconds_to_all_waiting']} s after they were produced and waited "
            f"{f['hold_s']:g} s more"
        )
    else:
        reached = f"Only {f['max_waiting']:,} of {n:,} were waiting at once before the benchmark stopped waiting"
    after = f["after_approval_ms"]
    return [
        f"## {n:,} requests waiting for approval (human-in-the-loop, 0 ms model)",
        "",
        f"Each request's content makes the moderator call the human review tool, so each holds two invocations: "
        f"{f['service']} and its ApprovalReview, which publishes the approval request and waits on its promise. "
        f"{reached} (Restate SQL: reviews {_statuses(f['review_statuses_before_approval'])}; "
        f"{f['service']} {_statuses(f['pattern_statuses_before_approval'])}). "
        f"Then {f['approved']:,} signed approval events went through Kafka, and {f['results']:,}/{n:,} results came "
        f"back ({f['ok']:,} ok) within {f['seconds_approval_to_results']} s of the approvals' start "
        f"(p50 {_fmt(after['p50'])} ms, p99 {_fmt(after['p99'])} ms); lost {f['lost']} (N - results).",
        "",
        f"RSS max while they waited: agent service {_fmt(f['agent_rss_waiting_max_mb'], 1)} MB, restate-server "
        f"{_fmt(f['restate_rss_waiting_max_mb'], 1)} MB; over the whole check, approvals included: agent service "
        f"{_fmt(f['agent_rss_max_mb'], 1)} MB (before: {f['agent_rss_before_mb']} MB), restate-server "
        f"{_fmt(f['restate_rss_max_mb'], 1)} MB.",
        "",
    ]


def _latency_panel(ax, runs: dict, mode: str, variants: list[str]) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    width = 0.8 / 3
    shown: list[float] = []
    for i, (pct, color) in enumerate((("p50", "#4c72b0"), ("p95", "#dd8452"), ("p99", "#c44e52"))):
        values = [(runs.get((mode, v)) or {}).get("summary", {}).get("latency_ms", {}).get(pct) for v in variants]
        shown += [v for v in values if v]
        ax.bar(
            [x + (i - 1) * width for x in range(len(variants))], [v or 0 for v in values], width, label=pct, color=color
        )
    for x, v in enumerate(variants):
        if (runs.get((mode, v)) or {}).get("summary", {}).get("latency_ms", {}).get("p50") is None:
            # No request of the window finished in time: say so instead of an invisible bar.
            ax.text(x, 0.5, "timed out", transform=ax.get_xaxis_transform(), ha="center", fontsize=8, color="gray")
    ax.set_yscale("log")
    if shown:
        # A fixed floor well below the shortest bar, so bar heights compare honestly.
        ax.set_ylim(bottom=min(shown) / 3, top=max(shown) * 1.5)
    # Ticks at 1, 2 and 5 per decade, so a panel spanning less than a decade still has labels.
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda _value, _pos: ""))
    ax.set_ylabel("ms (log scale)")


def _throughput_panel(ax, runs: dict, modes: list[str], variants: list[str]) -> None:
    for i, mode in enumerate(modes):
        values = [(runs.get((mode, v)) or {}).get("summary", {}).get("throughput_rps") or 0 for v in variants]
        offset = (i - (len(modes) - 1) / 2) * (0.8 / len(modes))
        bars = ax.bar([x + offset for x in range(len(variants))], values, 0.8 / len(modes), label=f"{mode} loop")
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_ylabel("results / s")
    ax.margins(y=0.15)


def plot(data: dict, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        # The JSON and the table are written first, so the run's numbers are kept.
        raise SystemExit("the plot needs matplotlib: pip install -e '.[bench]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = sorted({r["model_latency_ms"] for r in data["runs"]})
    modes = [m for m in ("closed", "open") if any(r["mode"] == m for r in data["runs"])]
    variants = [v for v in LABELS if any(r["variant"] == v for r in data["runs"])]
    cols = len(modes) + 1
    fig, axes = plt.subplots(
        max(1, len(latencies)), cols, figsize=(5.2 * cols, 3.6 * max(1, len(latencies))), squeeze=False
    )
    for row, latency in enumerate(latencies):
        runs = {(r["mode"], r["variant"]): r for r in data["runs"] if r["model_latency_ms"] == latency}
        for col, mode in enumerate(modes):
            ax = axes[row][col]
            _latency_panel(ax, runs, mode, variants)
            load = next((_load(r) for (m, _), r in runs.items() if m == mode), "")
            ax.set_title(f"model {latency:g} ms — {mode} loop ({load}): latency", fontsize=9)
            ax.set_xticks(range(len(variants)), [SHORT[v] for v in variants], fontsize=8)
            ax.legend(fontsize=7)
        ax = axes[row][-1]
        _throughput_panel(ax, runs, modes, variants)
        ax.set_title(f"model {latency:g} ms: throughput", fontsize=9)
        ax.set_xticks(range(len(variants)), [SHORT[v] for v in variants], fontsize=8)
        ax.legend(fontsize=7)
    m = data["machine"]
    fig.suptitle(
        f"agentpipe {data['pattern']}: durable pipeline vs plain consumers — {m['cpu_model']}, "
        f"{m['cpus']} cores, offline model",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(data: dict, out_dir: Path, stem: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / f"{stem}.md", "png": out_dir / f"{stem}.png", "json": out_dir / f"{stem}.json"}
    data["targets"] = targets(data)
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    paths["md"].write_text(markdown(data))
    plot(data, paths["png"])
    return paths
