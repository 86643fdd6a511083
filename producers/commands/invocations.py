"""`agentpipe status` and `agentpipe cancel`: a request's invocation in Restate."""

from __future__ import annotations

import argparse

from producers.commands.base import Subcommands, add_command, add_timeout
from producers.commands.cluster import cmd_cluster
from producers.exit_codes import EXIT_OK
from producers.invocations import RequestStatus, cancel_request, request_status
from producers.render import json_line, out, styled, table, wants_json


def show_status(status: RequestStatus, as_json: bool) -> None:
    if as_json:
        json_line(status.to_dict())
        return
    rows = [
        ("request", status.request_id),
        ("state", styled(status.state)),
        ("approval", status.approval_id),
        ("restate status", status.restate_status),
        ("invocation", status.invocation_id),
        ("target", status.target),
        ("journal", f"{status.journal_size} entries"),
        ("created", status.created_at),
        ("modified", status.modified_at),
        ("completed", status.completed_at),
        ("failure", status.failure),
    ]
    t = table(None, ["field", "value"], [r for r in rows if r[1] not in (None, "")], wrap=("value",))
    t.show_header = False
    out.print(t)


def cmd_status(args: argparse.Namespace) -> int:
    if args.request_id is None:  # no request named: the stack itself (nodes, brokers, partitions, consumers)
        return cmd_cluster(argparse.Namespace(json=args.json, timeout=5.0))
    show_status(request_status(args.request_id), wants_json(args.json))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    show_status(cancel_request(args.request_id, args.timeout), wants_json(args.json))
    return EXIT_OK


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "status",
        "where a request is (queued, running, suspended, waiting for approval, done, cancelled); without one, the stack",
        [
            "agentpipe status req-3f2a9c1b7d0e",
            "agentpipe status demo-1a2b3c4d-human-in-the-loop --json",
            "agentpipe status",
        ],
        cmd_status,
        "Looks the request up in Restate's SQL introspection (sys_invocation, idempotency key = request id). "
        "Exit code 5 when no invocation has that request id. Without a request id: the stack's health, "
        "as `agentpipe cluster` shows it.",
    )
    p.add_argument("request_id", metavar="REQUEST_ID", nargs="?")
    p.add_argument("--json", action="store_true", help="one JSON object even on a terminal")

    p = add_command(
        sub,
        "cancel",
        "cancel a request's invocation through Restate's admin API and wait until it stopped",
        ["agentpipe cancel req-3f2a9c1b7d0e"],
        cmd_cancel,
        "The pattern handler publishes an error result ('cancelled') and stops. "
        "Exit code 1 when the request has already finished, 5 when it is unknown.",
    )
    p.add_argument("request_id", metavar="REQUEST_ID")
    p.add_argument("--json", action="store_true", help="one JSON object even on a terminal")
    add_timeout(p, 30.0, "the invocation to stop")
