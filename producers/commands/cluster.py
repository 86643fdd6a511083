"""`agentpipe cluster`: Restate nodes, Kafka brokers, partition leaders and who consumes what."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from producers.cluster_view import cluster_view
from producers.commands.base import Subcommands, add_command, positive_float
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK
from producers.flow_view import BudgetView
from producers.render import json_line, out, styled, table, wants_json


def cmd_cluster(args: argparse.Namespace) -> int:
    view = cluster_view(timeout=args.timeout)
    if wants_json(args.json):
        json_line({**asdict(view), "healthy": view.healthy})
        return EXIT_OK if view.healthy else EXIT_NOT_OK
    out.print(
        table(
            f"Restate nodes ({view.topology})",
            ["node", "admin", "ingress", "health"],
            ([n.name, n.admin_url, n.ingress_url, styled("ok" if n.healthy else "error")] for n in view.nodes),
        )
    )
    out.print(
        table(
            f"Kafka brokers ({len(view.brokers)} of {view.expected_brokers} answer)",
            ["id", "address"],
            ([broker_id, address] for broker_id, address in sorted(view.brokers.items())),
        )
    )
    out.print(
        table(
            "topics",
            ["topic", "partitions", "leaders (broker: partitions)", "under-replicated", "leaderless"],
            (
                [
                    t.topic,
                    t.partitions,
                    ", ".join(f"{b}: {n}" for b, n in sorted(t.leaders.items())),
                    t.under_replicated,
                    t.leaderless,
                ]
                for t in view.topics
            ),
        )
    )
    out.print(
        table(
            "subscription consumer groups",
            ["topic", "state", "member → partitions"],
            (
                [g.topic, g.state, "; ".join(f"{m}: {p}" for m, p in sorted(g.members.items())) or "-"]
                for g in view.groups
            ),
            wrap=("member → partitions",),
        )
    )
    out.print(
        table(
            "backlog on the topics (records the gate or the subscriptions have not taken in yet)",
            ["topic", "waiting"],
            ([b.topic, "?" if b.waiting is None else f"{b.waiting:,}"] for b in view.backlog),
        )
    )
    if view.waiting:
        out.print(
            table(
                "backlog in Restate (invocations not started yet: above capacity, records wait here)",
                ["service/handler", "waiting for a slot", "behind their object's current one"],
                ([f"{w.service}/{w.handler}", f"{w.ready:,}", f"{w.inboxed:,}"] for w in view.waiting),
            )
        )
    if view.budgets:
        out.print(
            table(
                "provider budgets (calls and parked requests waiting for the model's limit)",
                [
                    "provider/model",
                    "limit",
                    "waiting: interactive / continuing / batch",
                    "in flight",
                    "paused",
                    "granted",
                    "429s",
                    "expired",
                ],
                (budget_row(b) for b in view.budgets),
                wrap=("provider/model",),
            )
        )
    for problem in view.problems:
        out.print(f"[red]{problem}[/]", highlight=False)
    out.print(styled("ok" if view.healthy else "error"), "cluster healthy" if view.healthy else "cluster degraded")
    return EXIT_OK if view.healthy else EXIT_NOT_OK


def budget_row(b: BudgetView) -> list[object]:
    limits = []
    if b.configured_requests_per_minute or b.stated_requests_per_minute:
        configured = f"{b.configured_requests_per_minute:g}" if b.configured_requests_per_minute else "-"
        stated = f"{b.stated_requests_per_minute:g}" if b.stated_requests_per_minute else "-"
        limits.append(f"{configured} req/min (provider says {stated})")
    elif b.probed_requests_per_s:
        limits.append(f"probing {b.probed_requests_per_s:.2f} req/s")
    if b.configured_tokens_per_minute or b.stated_tokens_per_minute:
        tokens = b.configured_tokens_per_minute or b.stated_tokens_per_minute
        limits.append(f"{tokens:g} tokens/min")
    waiting = " / ".join(f"{b.waiting.get(q, 0):,}" for q in ("interactive", "continuing", "batch"))
    in_flight = f"{b.in_flight}/{b.max_in_flight}" if b.max_in_flight else "-"
    paused = f"{b.paused_for_s:.1f}s" if b.paused_for_s else "-"
    return [b.key, "; ".join(limits) or "-", waiting, in_flight, paused, f"{b.granted:,}", b.rate_limited, b.expired]


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "cluster",
        "show Restate nodes, Kafka brokers, partition leaders, consumer groups and where the backlog waits",
        ["agentpipe cluster", "agentpipe cluster --json | jq .healthy"],
        cmd_cluster,
        "Exit code 1 when a node or broker does not answer, or a partition lacks a leader or a replica.",
    )
    p.add_argument("--timeout", type=positive_float, default=5.0, metavar="SECONDS")
    p.add_argument("--json", action="store_true", help="one JSON object even on a terminal")
