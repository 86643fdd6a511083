"""The benchmark's flow-control runs, and their sections of the report.

- Limited provider: a batch backlog of chaining requests put on the request topic at once, against
  the offline model limiting one model name to ``rate`` calls a second (OpenAI's 429 and headers);
  chat messages on the same model are sent every few seconds during the drain. Measured: the drain
  time against the ideal (requests x 3 calls / rate), the share of calls answered 429, the busiest
  second at the model, and the chat messages' latency.
- Overload: the pipeline's open loop at multiples of its own closed-loop throughput, measured just
  before in the same run (goodput, p99, memory).
- A batch at once: a replay-sized backlog of chaining requests produced at once with no provider
  limit, so only the machine paces it. Measured: the drain rate against the closed-loop capacity,
  and the processes' memory per quarter of the drain (whether it levels off while the backlog waits).

The limited model must be one the stack allows (AGENTPIPE_ALLOWED_MODELS); with a budget configured
for it (AGENTPIPE_LLM_BUDGETS) the backlog waits for its budget from the first record, without one
the budget learns the limit from the first 429s. The report says which.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentpipe.topics import request_topic, result_topic
from benchmarks import load, markdown, monitor
from offline_model.client import OfflineModelControl
from producers.errors import ClientError
from producers.flow_view import budgets

LIMITED_MODEL = "agentpipe-bench-limited"
CALLS_PER_REQUEST = 3  # chaining
CHAT_EVERY_S = 2.0


def busiest_second(starts: list[float]) -> int:
    starts = sorted(starts)
    most, first = 0, 0
    for last, at in enumerate(starts):
        while starts[first] <= at - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def _ms(values: list[float], q: float) -> float | None:
    found = load.percentile(sorted(values), q)
    return None if found is None else round(found * 1000, 1)


def configured_limit(model: str) -> float | None:
    """Requests per minute configured for the model's budget, None when none is (or it is unreadable)."""
    try:
        views = budgets()
    except ClientError:
        return None
    return next((b.configured_requests_per_minute for b in views if b.key.endswith(f"/{model}")), None)


async def limited_drain(
    watcher: load.ResultWatcher, model: OfflineModelControl, run_id: str, count: int, rate: float, message: str
) -> dict[str, Any]:
    """Drain ``count`` chaining requests against a model limited to ``rate`` calls a second; chat meanwhile."""
    ideal_s = count * CALLS_PER_REQUEST / rate
    timeout = 3 * ideal_s + 60
    chat_watcher = load.ResultWatcher([result_topic("chat")], asyncio.get_running_loop())
    backlog = load.KafkaTarget("limited", request_topic("chaining"), result_topic("chaining"))
    chat = load.KafkaTarget("chat", request_topic("chat"), result_topic("chat"))  # keyed by id: one session each
    model.set_limits(requests_per_s=rate, model=LIMITED_MODEL)
    try:
        probe = await load.one_request(
            backlog, watcher, f"bench-{run_id}-limited-probe", {"message": message, "model": LIMITED_MODEL}, 30.0
        )
        if probe.status != "ok":
            return {
                "error": f"a request choosing {LIMITED_MODEL} did not come back ok ({probe.status}): start the "
                f"stack with it in AGENTPIPE_ALLOWED_MODELS (and a budget in AGENTPIPE_LLM_BUDGETS)"
            }
        await asyncio.sleep(1.5)  # the probe's calls leave the provider's bucket
        body = {"message": message, "model": LIMITED_MODEL, "priority": "batch"}
        started = time.monotonic()
        drain = asyncio.create_task(
            load.burst(
                backlog, watcher, body, count=count, id_prefix=f"bench-{run_id}-limited", request_timeout=timeout
            )
        )
        chats: list[load.LoadOutcome] = []
        n = 0
        while not drain.done():
            await asyncio.sleep(CHAT_EVERY_S)
            if time.monotonic() - started < ideal_s * 0.9:
                chat_id = f"bench-{run_id}-chat-{n}"
                n += 1
                chats.append(
                    await load.one_request(
                        chat, chat_watcher, chat_id, {"message": "Where is my order?", "model": LIMITED_MODEL}, 60.0
                    )
                )
        run = await drain
    finally:
        model.set_limits(None, model=LIMITED_MODEL)
        await backlog.close()
        await chat.close()
        chat_watcher.close()
    done = [o.done for o in run.outcomes if o.done is not None]
    drained_s = (max(done) - started) if done else None
    ids = {o.request_id for o in run.outcomes}
    calls = [c for c in model.calls() if c["request_id"] in ids]
    rate_limited = sum(1 for c in calls if c["status"] == 429)
    chat_s = [o.latency for o in chats if o.status == "ok" and o.latency is not None]
    statuses = load.status_counts(run.outcomes)
    return {
        "requests": count,
        "rate": rate,
        "budget_configured_rpm": configured_limit(LIMITED_MODEL),
        "statuses": statuses,
        "drained_s": None if drained_s is None else round(drained_s, 1),
        "ideal_s": round(ideal_s, 1),
        "calls": len(calls),
        "rate_limited": rate_limited,
        "busiest_second": busiest_second([c["started_at"] for c in calls if c["status"] == 200]),
        "chat": {
            "sent": len(chats),
            "ok": len(chat_s),
            "p50_ms": _ms(chat_s, 50),
            "p99_ms": _ms(chat_s, 99),
            "max_ms": _ms(chat_s, 100),
        },
    }


def limited_section(f: dict[str, Any]) -> list[str]:
    if f.get("error"):
        return ["## A backlog against a limited provider", "", f"Not measured: {f['error']}", ""]
    configured = f["budget_configured_rpm"]
    how = (
        f"a budget configured for the model ({configured:g} requests a minute)"
        if configured
        else "no budget configured for the model: its budget learned the limit from the provider's answers"
    )
    share = f["rate_limited"] / f["calls"] if f["calls"] else 0.0
    ratio = f["drained_s"] / f["ideal_s"] if f.get("drained_s") else None
    chat = f["chat"]
    ok = ", ".join(f"{n:,} {s}" for s, n in sorted(f["statuses"].items()))
    return [
        f"## A backlog against a limited provider ({f['requests']:,} chaining requests, {f['rate']:g} calls/s)",
        "",
        f"The offline model answered 429 (OpenAI's body and headers) beyond {f['rate']:g} calls a second and "
        f"{f['rate']:g} at once; {how}. The backlog was produced at once with `priority: batch`, as a replay's is; "
        f"a chat message on the same model every {CHAT_EVERY_S:g} s while it drained.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| results | {ok} |",
        f"| drain time (first produced → last result) | {f['drained_s']} s |",
        f"| ideal (requests x 3 calls / limit) | {f['ideal_s']} s |",
        f"| drain / ideal | {'-' if ratio is None else f'{ratio:.2f}'} |",
        f"| calls answered 429 | {f['rate_limited']:,} of {f['calls']:,} ({share:.1%}) |",
        f"| most calls at the model in one second | {f['busiest_second']} (limit {f['rate']:g} + burst {f['rate']:g}) |",
        f"| chat during the drain: answered, p50 / p99 / max | {chat['ok']}/{chat['sent']}, "
        f"{chat['p50_ms']} / {chat['p99_ms']} / {chat['max_ms']} ms |",
        "",
    ]


async def batch_drain(
    watcher: load.ResultWatcher,
    sampler: monitor.ProcessSampler,
    run_id: str,
    count: int,
    body: dict[str, Any],
    capacity: float | None,
) -> dict[str, Any]:
    """``count`` chaining requests produced at once; drained at whatever rate the pipeline keeps."""
    target = load.KafkaTarget("batch", request_topic("chaining"), result_topic("chaining"))
    bound = 120 + 3 * count / (capacity or 10)  # three times the drain a healthy pipeline needs
    try:
        run = await load.burst(
            target,
            watcher,
            {**body, "priority": "batch"},
            count=count,
            id_prefix=f"bench-{run_id}-batch",
            request_timeout=bound,
        )
    finally:
        await target.close()
    started = run.window[0]
    done = sorted(o.done for o in run.outcomes if o.done is not None)
    drained = (done[-1] - started) if done else None
    quarters = []
    if drained:
        for q in range(4):
            start, end = started + drained * q / 4, started + drained * (q + 1) / 4
            summary = sampler.summary(start, end)
            quarters.append(
                {
                    name: (summary.get(name) or {}).get("rss_max_mb")
                    for name in ("agent-service", "restate", "kafka", "offline-model")
                }
            )
    statuses = load.status_counts(run.outcomes)
    resources = sampler.summary(started, started + (drained or 0))
    rate = round(len(done) / drained, 1) if drained else None
    return {
        "requests": count,
        "statuses": statuses,
        "drained_s": None if drained is None else round(drained, 1),
        "drain_rps": rate,
        "capacity_rps": capacity,
        "rss_max_mb_per_quarter": quarters,
        "cpu_mean_pct": {
            name: (resources.get(name) or {}).get("cpu_mean_pct") for name in ("agent-service", "restate")
        },
    }


def batch_section(b: dict[str, Any]) -> list[str]:
    capacity, rate = b["capacity_rps"], b["drain_rps"]
    share = f"{rate / capacity:.0%}" if capacity and rate else "-"
    ok = ", ".join(f"{n:,} {s}" for s, n in sorted(b["statuses"].items()))
    quarters = [
        [i, q.get("agent-service", "-"), q.get("restate", "-"), q.get("kafka", "-"), q.get("offline-model", "-")]
        for i, q in enumerate(b["rss_max_mb_per_quarter"], start=1)
    ]
    return [
        f"## A batch at once ({b['requests']:,} chaining requests produced together, no provider limit)",
        "",
        "As a replay puts a topic's range back at once: the backlog waits in Restate (invocations not "
        "started yet, `agentpipe status`) and drains at what the machine does.",
        "",
        *markdown.table(
            ["measure", "value"],
            "lr",
            [
                ["results", ok],
                ["drain time (first produced → last result)", f"{b['drained_s']} s"],
                ["drain rate", f"{rate} req/s"],
                ["closed-loop capacity, same run", f"{capacity} req/s"],
                ["drain rate / capacity", share],
            ],
        ),
        "",
        "Memory while it drained (RSS max per quarter of the drain, MB):",
        "",
        *markdown.table(["quarter", "agent service", "restate", "kafka", "offline model"], "rrrrr", quarters),
        "",
    ]


def overload_section(runs: list[dict[str, Any]]) -> list[str]:
    """The open loops above capacity, against the closed loop they were derived from."""
    over = [r for r in runs if (r.get("rate_basis") or {}).get("multiple_of_capacity")]
    if not over:
        return []
    lines = [
        "## Above capacity: the pipeline's open loop at multiples of its own closed-loop throughput",
        "",
        "| model | offered | completed req/s in the window | share of capacity | whole run req/s | share of capacity "
        "| p50 ms | p99 ms | CPU ms/req agent + restate | RSS max MB agent / restate |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in over:
        basis, summary = r["rate_basis"], r["summary"]
        capacity = basis["capacity_rps"]
        cpu = r["cpu_ms_per_request"]
        res = r["resources"]
        cpu_sum = (cpu["worker"] or 0) + (cpu["restate"] or 0) if cpu["worker"] is not None else None
        whole = summary.get("whole_run_rps")
        lines.append(
            f"| {r['model_latency_ms']:g} ms | {r['rate']:g} req/s ({basis['multiple_of_capacity']:g} x {capacity:g}) "
            f"| {summary['throughput_rps']} | {summary['throughput_rps'] / capacity:.0%} "
            f"| {whole if whole is not None else '-'} | {f'{whole / capacity:.0%}' if whole else '-'} "
            f"| {summary['latency_ms']['p50']} | {summary['latency_ms']['p99']} "
            f"| {'-' if cpu_sum is None else f'{cpu_sum:.1f}'} "
            f"| {(res.get('agent-service') or {}).get('rss_max_mb', '-')} / {(res.get('restate') or {}).get('rss_max_mb', '-')} |"
        )
    lines += [
        "",
        "Capacity: the pipeline's own closed-loop throughput (N requests in flight) at the same model latency, "
        "measured earlier in this run. Completed in the window: results seen in the measured window per second. "
        "Whole run: every request of the run (warm-up, window, and the backlog left at its end) from the first "
        "send to the last result. Restate takes records in as they arrive, so above capacity part of the "
        "window's CPU goes to requests that finish after it: the window's rate leaves that work out, the "
        "whole run's does not.",
        "",
    ]
    return lines
