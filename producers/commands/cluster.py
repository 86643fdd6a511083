"""`agentpipe cluster`: Restate nodes, Kafka brokers, partition leaders and who consumes what."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from producers.cluster_view import cluster_view
from producers.commands.base import Subcommands, add_command, positive_float
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK
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
    for problem in view.problems:
        out.print(f"[red]{problem}[/]", highlight=False)
    out.print(styled("ok" if view.healthy else "error"), "cluster healthy" if view.healthy else "cluster degraded")
    return EXIT_OK if view.healthy else EXIT_NOT_OK


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "cluster",
        "show Restate nodes, Kafka brokers, partition leaders and consumer-group assignment",
        ["agentpipe cluster", "agentpipe cluster --json | jq .healthy"],
        cmd_cluster,
        "Exit code 1 when a node or broker does not answer, or a partition lacks a leader or a replica.",
    )
    p.add_argument("--timeout", type=positive_float, default=5.0, metavar="SECONDS")
    p.add_argument("--json", action="store_true", help="one JSON object even on a terminal")
