"""The `agentpipe` command line."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from stack.installs import StackError

console = Console(stderr=True)


def cmd_up(args) -> int:
    from stack.local import up

    report = up(timeout=args.timeout)
    state = "already running" if report.already_running else f"ready in {report.seconds:.1f}s"
    console.print(f"[green]stack {state}[/]; topics created: {len(report.created_topics)}; "
                  f"subscriptions +{len(report.subscriptions.created)} -{len(report.subscriptions.removed)} "
                  f"={len(report.subscriptions.unchanged)}")
    return 0


def cmd_down(args) -> int:
    from stack.local import down

    console.print("stack stopped" if down() else "stack was not running")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentpipe", description="Durable LLM agents fed by Kafka topics.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the local stack (Kafka, Restate, offline model, services)",
                       epilog="example: agentpipe up")
    p.add_argument("--timeout", type=float, default=180.0)
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop the local stack started by `up`", epilog="example: agentpipe down")
    p.set_defaults(func=cmd_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StackError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
