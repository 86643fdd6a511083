"""`agentpipe subscriptions list | sync`: Restate's Kafka subscriptions against subscriptions/desired.py."""

from __future__ import annotations

import argparse

from producers.commands.base import Subcommands, add_command
from producers.exit_codes import EXIT_OK
from producers.invocations import admin_errors
from producers.render import json_line, out, table, wants_json
from subscriptions.restate_admin import list_subscriptions, sync_subscriptions


def cmd_list(args: argparse.Namespace) -> int:
    with admin_errors():
        subscriptions = list_subscriptions()
    if wants_json(args.json):
        for s in subscriptions:
            json_line(s)
    else:
        out.print(
            table(
                "subscriptions",
                ["source", "sink", "id"],
                ([s["source"], s["sink"], s["id"]] for s in subscriptions),
                cut=("id",),
            )
        )
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    with admin_errors():
        report = sync_subscriptions()
    if wants_json(args.json):
        json_line({"created": report.created, "removed": report.removed, "unchanged": report.unchanged})
        return EXIT_OK
    out.print(
        f"subscriptions: {len(report.created)} created, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged",
        highlight=False,
    )
    for change, items in (("created", report.created), ("removed", report.removed)):
        for item in items:
            out.print(f"  {change} {item}", highlight=False, markup=False)
    return EXIT_OK


def register(sub: Subcommands) -> None:
    group = add_command(
        sub,
        "subscriptions",
        "list or sync Restate's Kafka subscriptions",
        ["agentpipe subscriptions list", "agentpipe subscriptions sync"],
        None,
        "The wanted subscriptions come from subscriptions/desired.py.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, summary, func in (
        ("list", "the subscriptions Restate has", cmd_list),
        ("sync", "create missing subscriptions, remove stale ones of ours (idempotent)", cmd_sync),
    ):
        p = add_command(actions, name, summary, [f"agentpipe subscriptions {name}"], func)
        p.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
