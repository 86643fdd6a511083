"""`agentpipe approvals`, `agentpipe approve`, `agentpipe reject`."""

from __future__ import annotations

from rich.markup import escape

from agentpipe.settings import get_settings
from producers.approvals import ApprovalWatch, default_reviewer, publish_decision
from producers.broker import Publisher
from producers.commands.base import add_command, add_timeout
from producers.errors import EXIT_NOT_OK, EXIT_OK, WaitTimeout
from producers.render import err, json_line, out, show_result, wants_json


def show_approval(request: dict) -> None:
    """A block per approval: the content is what the person decides on, so it is shown whole."""
    out.print(f"[bold]{escape(request['approval_id'])}[/]  request {escape(request.get('request_id') or '')}  "
              f"requested {escape(request.get('requested_at') or '')}", highlight=False)
    out.print(f"  reason:  {escape(request.get('reason') or '')}", highlight=False)
    out.print(f"  content: {escape(request.get('content') or '')}", highlight=False)


def cmd_approvals(args) -> int:
    as_json = wants_json(args.json)
    with ApprovalWatch() as watch:
        pending = watch.catch_up().pending()
        show = json_line if as_json else show_approval
        for request in pending:
            show(request)
        if not pending and not as_json:
            err.print("no pending approvals" + ("; waiting for new ones" if args.follow else ""))
        if args.follow:
            for request in watch.follow_pending():
                show(request)
    return EXIT_OK


def decide(args, decision: str) -> int:
    if get_settings().approval_secret is None:
        err.print("warning: no approval key (AGENTPIPE_APPROVAL_KEY or <state dir>/approval.key): the event goes "
                  "out unsigned, and a stack that has a key ignores it")
    with ApprovalWatch() as watch:
        request = watch.catch_up().check_decidable(args.approval_id)
        with Publisher() as publisher:
            publish_decision(publisher, args.approval_id, decision, args.reviewer, args.comment)
        err.print(f"{decision} {args.approval_id} (request {request['request_id']}) as {args.reviewer}",
                  highlight=False)
        if not args.wait:
            return EXIT_OK
        with err.status(f"waiting for the result of {request['request_id']}"):
            result = watch.wait_for_result(request["request_id"], args.timeout)
    if result is None:
        raise WaitTimeout(f"no result for {request['request_id']} within {args.timeout:.0f}s")
    show_result(result)
    return EXIT_OK if result["status"] == "ok" else EXIT_NOT_OK


def cmd_approve(args) -> int:
    return decide(args, "approved")


def cmd_reject(args) -> int:
    return decide(args, "rejected")


def register(sub) -> None:
    p = add_command(
        sub, "approvals", "list approval requests that wait for a human decision",
        ["agentpipe approvals", "agentpipe approvals --follow", "agentpipe approvals --json | jq -r .approval_id"],
        cmd_approvals,
        "Pending = requested on the approval-requests topic and neither decided by a signed event on the "
        "approvals topic nor ended (the moderation's result is out).",
    )
    p.add_argument("--follow", "-f", action="store_true", help="keep listing new approval requests as they arrive")
    p.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
    for name, verb, func in (("approve", "approve", cmd_approve), ("reject", "reject", cmd_reject)):
        p = add_command(
            sub, name, f"{verb} a pending approval request (publishes a signed approval event)",
            [f"agentpipe {name} approval-0f3c... --comment 'looks fine' --wait",
             f"agentpipe approvals --json | jq -r .approval_id | xargs -n1 agentpipe {name}"],
            func,
            "Exit code 5 for an unknown approval id, 1 when it is already decided or its request has ended.",
        )
        p.add_argument("approval_id", metavar="APPROVAL_ID")
        p.add_argument("--comment", default="", help="shown in the moderation's result")
        p.add_argument("--reviewer", default=default_reviewer(), help="who decides (default: your user name)")
        p.add_argument("--wait", action="store_true", help="wait for the moderation's result and print it")
        add_timeout(p, 60.0)
