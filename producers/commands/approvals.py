"""`agentpipe approvals`, `agentpipe approve`, `agentpipe reject`."""

from __future__ import annotations

import argparse
from contextlib import nullcontext

from rich.markup import escape

from producers.approval_key import require_approval_secret
from producers.approval_state import ApprovalState
from producers.approvals import HITL, check_decidable, default_reviewer, follow_pending, publish_decision
from producers.broker import Publisher
from producers.client import AgentpipeClient
from producers.commands.base import Subcommands, add_command, add_timeout, add_verbose, report_skipped
from producers.errors import WaitTimeout
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK
from producers.render import err, json_line, out, show_result, wants_json
from producers.shapes import ApprovalRequestValue


def show_approval(request: ApprovalRequestValue) -> None:
    """A block per approval: the content is what the person decides on, so it is shown whole."""
    out.print(
        f"[bold]{escape(request['approval_id'])}[/]  request {escape(request['request_id'])}  "
        f"requested {escape(request.get('requested_at') or '')}",
        highlight=False,
    )
    out.print(f"  reason:  {escape(request['reason'])}", highlight=False)
    out.print(f"  content: {escape(request['content'])}", highlight=False)


def cmd_approvals(args: argparse.Namespace) -> int:
    as_json = wants_json(args.json)
    show = json_line if as_json else show_approval
    state = ApprovalState()
    try:
        pending = state.pending()
        for approval in pending:
            show(approval.request)
        if not pending and not as_json:
            err.print("no pending approvals" + ("; waiting for new ones" if args.follow else ""))
        if args.follow:
            for approval in follow_pending(state, {a.approval_id for a in pending}):
                show(approval.request)
    finally:
        report_skipped(args, state.skipped, "approval state entries")
    return EXIT_OK


def decide(args: argparse.Namespace, decision: str) -> int:
    require_approval_secret()  # refuse before anything else: an unsigned decision changes nothing
    request = check_decidable(ApprovalState(), args.approval_id)
    request_id = request["request_id"]
    client = AgentpipeClient() if args.wait else None
    # Listen before publishing, from the end of the results topic: no older result is taken for this one.
    with client.watch_results([HITL]) if client else nullcontext() as results:
        with Publisher() as publisher:
            publish_decision(publisher, args.approval_id, decision, args.reviewer, args.comment)
        err.print(
            f"{decision} {escape(args.approval_id)} (request {escape(request_id)}) as {escape(args.reviewer)}",
            highlight=False,
        )
        if results is None:
            return EXIT_OK
        with err.status(f"waiting for the result of {escape(request_id)}"):
            result = results.wait_for([request_id], args.timeout).get(request_id)
    if result is None:
        raise WaitTimeout(f"no result for {request_id} within {args.timeout:.0f}s")
    show_result(result)
    return EXIT_OK if result.status == "ok" else EXIT_NOT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    return decide(args, "approved")


def cmd_reject(args: argparse.Namespace) -> int:
    return decide(args, "rejected")


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "approvals",
        "list approval requests that wait for a human decision",
        ["agentpipe approvals", "agentpipe approvals --follow", "agentpipe approvals --json | jq -r .approval_id"],
        cmd_approvals,
        "Pending = Restate holds the review with status pending and it is still running; read through the "
        "admin API's SQL introspection, so it costs the same however long the topics are. --follow polls "
        "every second.",
    )
    p.add_argument("--follow", "-f", action="store_true", help="keep listing new approval requests as they arrive")
    p.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
    add_verbose(p)
    for name, verb, func in (("approve", "approve", cmd_approve), ("reject", "reject", cmd_reject)):
        p = add_command(
            sub,
            name,
            f"{verb} a pending approval request (publishes a signed approval event)",
            [
                f"agentpipe {name} approval-0f3c... --comment 'looks fine' --wait",
                f"agentpipe approvals --json | jq -r .approval_id | xargs -n1 agentpipe {name}",
            ],
            func,
            "Signs with AGENTPIPE_APPROVAL_KEY, else with <state folder>/approval.key written by `agentpipe up`; "
            "without a key it refuses (exit 2). Exit code 5 for an unknown approval id, 1 when it is already "
            "decided or its review has ended.",
        )
        p.add_argument("approval_id", metavar="APPROVAL_ID")
        p.add_argument("--comment", default="", help="shown in the moderation's result")
        p.add_argument("--reviewer", default=default_reviewer(), help="who decides (default: your user name)")
        p.add_argument("--wait", action="store_true", help="wait for the moderation's result and print it")
        add_timeout(p, 60.0)
