"""`agentpipe send` and `agentpipe results`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentpipe.messages import AgentResult
from agentpipe.patterns import PATTERNS
from agentpipe.topics import result_topic
from producers.broker import TopicReader
from producers.client import AgentpipeClient, ResultStream, require_key
from producers.commands.base import (
    Subcommands,
    add_command,
    add_timeout,
    add_verbose,
    pattern_arg,
    positive_int,
    report_skipped,
)
from producers.errors import InvalidInput, WaitTimeout
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK
from producers.render import err, json_line, out, result_line, results_table, show_result, wants_json
from producers.replay import parse_time

DEFAULT_LAST = 100  # records per partition a plain `results` shows


def read_body(args: argparse.Namespace) -> dict[str, Any]:
    """The request body from --json FILE|- or --message; ``{}`` runs the pattern's example."""
    if args.message is not None:
        return {"message": args.message}
    if args.json is None:
        return {}
    name = "standard input" if args.json == "-" else args.json
    try:
        text = sys.stdin.read() if args.json == "-" else Path(args.json).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"invalid JSON in {name}: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"the request in {name} must be a JSON object, not {type(body).__name__}")
    return body


def cmd_send(args: argparse.Namespace) -> int:
    body = read_body(args)
    require_key(args.pattern, args.key)  # input errors before the broker is asked anything
    client = AgentpipeClient()
    if not args.wait:
        sent = client.send(args.pattern, body, key=args.key, request_id=args.request_id)
        print(sent.request_id, flush=True)  # alone on stdout, so ID=$(agentpipe send ...) works
        if sys.stderr.isatty():
            err.print(f"sent to {sent.topic} partition {sent.partition} offset {sent.offset}", highlight=False)
        return EXIT_OK
    with client.watch_results([args.pattern]) as results:
        sent = client.send(args.pattern, body, key=args.key, request_id=args.request_id)
        with err.status(f"waiting for the result of {sent.request_id}"):
            result = results.wait_for_sent([sent], args.timeout).get(sent.request_id)
    if result is None:
        raise WaitTimeout(
            f"no result for {sent.request_id} within {args.timeout:.0f}s (see: agentpipe status {sent.request_id})"
        )
    show_result(result)
    return EXIT_OK if result.status == "ok" else EXIT_NOT_OK


def open_results(client: AgentpipeClient, args: argparse.Namespace, patterns: list[str]) -> ResultStream:
    """Without --follow a window (--since and/or the last N per partition); with it, from now
    (or from the window's start when one is given, or the beginning with --from-beginning)."""
    topics = [result_topic(p) for p in patterns]
    since_ms = parse_time(args.since) if args.since else None
    if args.follow and args.from_beginning:
        reader = TopicReader.open(topics, from_beginning=True)
    elif args.follow and since_ms is None and args.last is None:
        reader = TopicReader.open(topics, from_beginning=False)
    else:
        last = args.last if args.last is not None else (None if since_ms is not None else DEFAULT_LAST)
        reader = TopicReader.open_window(topics, last=last, since_ms=since_ms)
    return ResultStream(reader)


def cmd_results(args: argparse.Namespace) -> int:
    patterns = args.pattern or list(PATTERNS)
    as_json = wants_json(args.json)
    wanted = set(args.request_id or [])

    def keep(result: AgentResult) -> bool:
        return not wanted or result.request_id in wanted

    client = AgentpipeClient()
    with open_results(client, args, patterns) as stream:
        try:
            if not args.follow:
                show_window(filter(keep, stream.available()), as_json)
                return EXIT_OK
            for result in filter(keep, stream.follow()):
                json_line(result) if as_json else out.print(result_line(result), highlight=False)
        finally:
            report_skipped(args, stream.skipped, "result records")
    return EXIT_OK


def show_window(results: Iterable[AgentResult], as_json: bool) -> None:
    if as_json:  # streamed in topic order: nothing is held
        for result in results:
            json_line(result)
        return
    shown = sorted(results, key=lambda r: r.completed_at)  # a window: bounded
    if shown:
        out.print(results_table(shown))
    else:
        err.print("no results")


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "send",
        "publish one request to a pattern's request topic",
        [
            'agentpipe send chaining --message "Revenue grew by 12%. Churn is at 3%." --wait',
            "agentpipe send chat --key session-1 --message 'Hi, I am Ada' --wait",
            'echo \'{"content": "borderline satire"}\' | agentpipe send human-in-the-loop --json -',
            "ID=$(agentpipe send tool-routing); agentpipe results --request-id $ID --follow",
        ],
        cmd_send,
        "Without --message or --json the body is {}, which runs the pattern's example request. "
        "Prints the request id; with --wait, the result (JSON lines when piped) and exits 1 unless its status is ok.",
    )
    p.add_argument("pattern", type=pattern_arg, metavar="PATTERN", help=f"one of: {', '.join(PATTERNS)}")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--message", metavar="TEXT", help="the request's message")
    body.add_argument("--json", metavar="FILE", help="the whole request body from a JSON file, or - for stdin")
    p.add_argument("--key", help="record key; for chat the session id (required there)")
    p.add_argument("--request-id", metavar="ID", help="the request id (default: generated)")
    p.add_argument("--wait", action="store_true", help="wait for the result and print it")
    add_timeout(p, 120.0)

    p = add_command(
        sub,
        "results",
        "read results from the result topics, one per request id",
        [
            "agentpipe results",
            "agentpipe results --pattern chaining --pattern chat --json",
            "agentpipe results --since 2h --json | jq -r .request_id",
            "agentpipe results --follow",
            "agentpipe results --follow --from-beginning | jq .status",
        ],
        cmd_results,
        "Duplicates (a publish repeated after a crash) are dropped by (pattern, request id); records that are "
        f"not results are skipped (counted with --verbose). Without --follow: a window, the last {DEFAULT_LAST} "
        "records per partition unless --last or --since say otherwise, then exit. With --follow: new results "
        "as they arrive (from the window's start with --last/--since, all of them with --from-beginning) "
        "until Ctrl-C. A table on a terminal, JSON lines when piped or with --json.",
    )
    p.add_argument("--pattern", type=pattern_arg, action="append", metavar="P", help="only this pattern (repeatable)")
    p.add_argument("--request-id", action="append", metavar="ID", help="only this request id (repeatable)")
    p.add_argument("--follow", "-f", action="store_true", help="keep reading new results")
    p.add_argument("--from-beginning", action="store_true", help="with --follow: start from the oldest result")
    p.add_argument(
        "--last",
        type=positive_int,
        metavar="N",
        help=f"the last N records of each partition (default without --follow and --since: {DEFAULT_LAST})",
    )
    p.add_argument("--since", metavar="T", help="records at or after time T (RFC 3339, or a span ago: 15m, 2h)")
    p.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
    add_verbose(p)
