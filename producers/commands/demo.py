"""`agentpipe demo`: every pattern through Kafka, the approval answered, the results as a table."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.table import Table

from agentpipe.patterns import PATTERNS
from producers.approvals import default_reviewer
from producers.client import AgentpipeClient
from producers.commands.base import Subcommands, add_command, add_timeout
from producers.demo import DemoRow, approve_automatically, run_demo, stack_reachable
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK, EXIT_TIMEOUT
from producers.render import err, out, progress, styled, table
from producers.shapes import ApprovalRequestValue


def demo_table(rows: list[DemoRow]) -> Table:
    return table(
        "agentpipe demo: one request per pattern, through Kafka",
        ["pattern", "status", "route", "latency", "output (first line)"],
        (
            [
                r.pattern,
                styled(r.status),
                r.route or "",
                f"{r.latency_s:.2f}s" if r.latency_s is not None else "",
                r.output,
            ]
            for r in rows
        ),
        cut=("output (first line)",),
    )


def ensure_stack() -> None:
    """Use the stack that answers; otherwise start the local one, as `agentpipe up` does."""
    if stack_reachable():
        err.print("stack: running")
        return
    from stack.local import up

    with err.status("starting the local stack (agentpipe up); the first run installs Kafka and Restate"):
        report = up()
    err.print(f"stack: started in {report.seconds:.0f}s")


def cmd_demo(args: argparse.Namespace) -> int:
    ensure_stack()
    client = AgentpipeClient()
    with progress() as bar:
        task = bar.add_task("results", total=len(PATTERNS))

        def ask_the_person(request: ApprovalRequestValue) -> tuple[str, str]:
            bar.stop()  # the live display and a prompt cannot share the terminal
            err.print(
                f"\n[bold]approval needed[/] {escape(request['approval_id'])}\n"
                f"  reason:  {escape(request['reason'])}\n  content: {escape(request['content'])}",
                highlight=False,
            )
            decision = "approved" if Confirm.ask("approve?", console=err, default=True) else "rejected"
            comment = Prompt.ask("comment", console=err, default="")
            bar.start()
            return decision, comment

        def on_event(kind: str, detail: dict[str, str]) -> None:
            if kind == "approval":
                bar.console.print(f"approval {escape(detail['approval_id'])} -> {detail['decision']}", highlight=False)
            elif kind == "result":
                bar.advance(task)
                bar.console.print(f"{detail['pattern']}: ", styled(detail["status"]), sep="")

        if args.interactive:
            rows = run_demo(client, ask_the_person, args.timeout, on_event, reviewer=default_reviewer())
        else:
            rows = run_demo(client, approve_automatically, args.timeout, on_event)
    out.print(demo_table(rows))
    if any(r.status == "missing" for r in rows):
        err.print(f"[red]{sum(r.status == 'missing' for r in rows)} result(s) missing after {args.timeout:.0f}s[/]")
        return EXIT_TIMEOUT
    return EXIT_OK if all(r.status == "ok" for r in rows) else EXIT_NOT_OK


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "demo",
        "run every pattern once through Kafka and show the results",
        ["agentpipe demo", "agentpipe demo --interactive"],
        cmd_demo,
        "Starts the local stack when none answers, sends {} (the built-in example) to each of the ten request "
        "topics, answers the moderation's approval request with a signed approval event (--interactive asks "
        "you), and prints a table. Exit code 0 only when all ten results arrived with status ok.",
    )
    p.add_argument("--interactive", "-i", action="store_true", help="decide the approval request yourself")
    add_timeout(p, 120.0)
