"""`agentpipe up` / `agentpipe down`: the local stack."""

from __future__ import annotations

import argparse
import os

from producers.commands.base import Subcommands, add_command, positive_float, positive_int
from producers.exit_codes import EXIT_OK
from producers.render import err


def cmd_up(args: argparse.Namespace) -> int:
    from stack.local import Topology, up

    topology: Topology | None = "cluster" if args.cluster else "single" if args.single else None
    if args.agent_services is not None:
        os.environ["AGENTPIPE_CLUSTER_AGENT_SERVICES"] = str(args.agent_services)
    report = up(timeout=args.timeout, topology=topology)
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
        [
            "agentpipe up",
            "agentpipe up --cluster --agent-services 3",
            "AGENTPIPE_STATE_DIR=/tmp/ap agentpipe up --timeout 300",
        ],
        cmd_up,
        "Installs what is missing (cached), starts everything, creates topics and syncs subscriptions. "
        "Running it twice is harmless. --cluster starts three Kafka brokers, three Restate nodes and several "
        "agent-service processes behind nginx instead of one of each; the choice is kept in the state folder "
        "until --single.",
    )
    p.add_argument("--timeout", type=positive_float, default=180.0, metavar="SECONDS")
    topology = p.add_mutually_exclusive_group()
    topology.add_argument("--cluster", action="store_true", help="three brokers, three Restate nodes, a load balancer")
    topology.add_argument("--single", action="store_true", help="one of each (the default)")
    p.add_argument(
        "--agent-services",
        type=positive_int,
        default=None,
        metavar="N",
        help="agent-service processes behind the balancer in a cluster (default 2)",
    )
    add_command(sub, "down", "stop the local stack started by `up`", ["agentpipe down"], cmd_down)
