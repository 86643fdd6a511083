"""`agentpipe up` / `agentpipe down`: the local stack."""

from __future__ import annotations

import argparse

from producers.commands.base import Subcommands, add_command, positive_float
from producers.exit_codes import EXIT_OK
from producers.render import err


def cmd_up(args: argparse.Namespace) -> int:
    from stack.local import up

    report = up(timeout=args.timeout)
    state = "already running" if report.already_running else f"ready in {report.seconds:.1f}s"
    err.print(
        f"[green]stack {state}[/]; topics created: {len(report.created_topics)}; "
        f"subscriptions +{len(report.subscriptions.created)} -{len(report.subscriptions.removed)} "
        f"={len(report.subscriptions.unchanged)}"
    )
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    from stack.local import down

    err.print("stack stopped" if down() else "stack was not running")
    return EXIT_OK


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "up",
        "start the local stack (Kafka, Restate, offline model, services)",
        ["agentpipe up", "AGENTPIPE_STATE_DIR=/tmp/ap agentpipe up --timeout 300"],
        cmd_up,
        "Installs what is missing (cached), starts everything, creates topics and syncs subscriptions. "
        "Running it twice is harmless.",
    )
    p.add_argument("--timeout", type=positive_float, default=180.0, metavar="SECONDS")
    add_command(sub, "down", "stop the local stack started by `up`", ["agentpipe down"], cmd_down)
