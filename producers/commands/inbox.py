"""`agentpipe inbox`: the review inbox in the browser, and its reviewer accounts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from rich.markup import escape

from agentpipe.logs import configure_logging
from agentpipe.settings import get_settings
from producers.commands.base import Subcommands, add_command
from producers.errors import InvalidInput, NotFound
from producers.exit_codes import EXIT_OK
from producers.inbox.reviewers import ReviewerFile, check_name, check_password
from producers.render import err, out


def cmd_serve(args: argparse.Namespace) -> int:
    from producers.inbox.serve import run_inbox  # starlette and hypercorn only for this command

    settings = get_settings()
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.cookie_secure:
        err.print(
            f"warning: serving on {escape(args.host)} without --cookie-secure: put a TLS proxy in front "
            "(see docs/inbox.md); session cookies must not travel in clear text"
        )
    configure_logging("inbox")
    asyncio.run(run_inbox(args.host, args.port or settings.inbox_port, settings.reviewers_file, args.cookie_secure))
    return EXIT_OK


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InvalidInput("the two passwords differ; nothing was changed")
    return first


def cmd_add_reviewer(args: argparse.Namespace) -> int:
    check_name(args.name)
    password = check_password(read_password(args.password_stdin))
    reviewers = ReviewerFile(get_settings().reviewers_file)
    new = reviewers.set_password(args.name, password)
    err.print(f"{'added' if new else 'changed the password of'} {escape(args.name)} in {reviewers.path}")
    return EXIT_OK


def cmd_remove_reviewer(args: argparse.Namespace) -> int:
    reviewers = ReviewerFile(get_settings().reviewers_file)
    if not reviewers.remove(args.name):
        raise NotFound(f"no reviewer named {args.name!r} in {reviewers.path}")
    err.print(f"removed {escape(args.name)}; their open sessions end at their next request")
    return EXIT_OK


def cmd_reviewers(args: argparse.Namespace) -> int:
    for name in ReviewerFile(get_settings().reviewers_file).names():
        out.print(escape(name), highlight=False)
    return EXIT_OK


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "inbox",
        "serve the review inbox: pending approvals in the browser, decided by signed-in reviewers",
        [
            "agentpipe inbox add-reviewer alice",
            "agentpipe inbox            # http://127.0.0.1:8090/",
            "agentpipe inbox --port 8091",
        ],
        cmd_serve,
        "Reviewers sign in with a name and password from the reviewer file (argon2id hashes; default "
        "<state folder>/inbox-reviewers.json, AGENTPIPE_INBOX_REVIEWERS_FILE). Decisions are signed on the "
        "server with the approval key, in the signed-in reviewer's name. The list follows Kafka: new approval "
        "requests appear and decided ones leave without a reload. See docs/inbox.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default AGENTPIPE_INBOX_PORT, 8090)")
    p.add_argument(
        "--cookie-secure", action="store_true", help="mark the session cookie Secure (when served behind TLS)"
    )
    accounts = p.add_subparsers(dest="inbox_command", metavar="ACCOUNTS")
    a = accounts.add_parser("add-reviewer", help="add a reviewer, or change their password")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a.set_defaults(func=cmd_add_reviewer)
    r = accounts.add_parser("remove-reviewer", help="remove a reviewer")
    r.add_argument("name", metavar="NAME")
    r.set_defaults(func=cmd_remove_reviewer)
    accounts.add_parser("reviewers", help="list the reviewers' names").set_defaults(func=cmd_reviewers)
