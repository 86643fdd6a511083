"""`agentpipe usage`: tokens per pattern and day from the result topics, with a cost estimate."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from agentpipe.patterns import PATTERNS
from agentpipe.topics import result_topic
from producers.broker import TopicReader
from producers.client import ResultStream
from producers.commands.base import Subcommands, add_command, add_verbose, pattern_arg, report_skipped
from producers.exit_codes import EXIT_OK
from producers.render import err, json_line, out, table, wants_json
from producers.replay import parse_time
from producers.usage import usage_by_day


def cmd_usage(args: argparse.Namespace) -> int:
    patterns = args.pattern or list(PATTERNS)
    since_ms = parse_time(args.since) if args.since else None
    reader = TopicReader.open_window([result_topic(p) for p in patterns], last=None, since_ms=since_ms)
    with ResultStream(reader) as stream:
        rows = usage_by_day(stream.available())
        report_skipped(args, stream.skipped, "result records")
    if wants_json(args.json):
        for row in rows:
            json_line({**asdict(row), "cost_usd": row.cost_usd})
        return EXIT_OK
    if not rows:
        err.print("no results")
        return EXIT_OK

    def cost(value: float | None) -> str:
        return "-" if value is None else f"${value:,.4f}"

    out.print(
        table(
            "usage (tokens as the model reported them; cost from AGENTPIPE_PRICES)",
            ["day", "pattern", "model", "requests", "LLM calls", "prompt tokens", "completion tokens", "cost"],
            (
                [
                    r.day,
                    r.pattern,
                    r.model or "-",
                    r.requests,
                    r.llm_calls,
                    f"{r.prompt_tokens:,}",
                    f"{r.completion_tokens:,}",
                    cost(r.cost_usd),
                ]
                for r in rows
            ),
        )
    )
    priced = [r.cost_usd for r in rows if r.cost_usd is not None]
    out.print(
        f"total: {sum(r.requests for r in rows)} requests, {sum(r.llm_calls for r in rows)} LLM calls, "
        f"{sum(r.prompt_tokens for r in rows):,} prompt and {sum(r.completion_tokens for r in rows):,} completion "
        f"tokens" + (f", about ${sum(priced):,.4f}" if priced else ""),
        highlight=False,
    )
    return EXIT_OK


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "usage",
        "LLM calls and tokens per pattern and day, from the result topics, with a cost estimate",
        [
            "agentpipe usage --since 1d",
            "agentpipe usage --pattern chaining --json",
            'AGENTPIPE_PRICES=\'{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}\' agentpipe usage',
        ],
        cmd_usage,
        "Reads every result on the result topics (or those since --since), each request once. Prices are USD per "
        "1M tokens per model, from the AGENTPIPE_PRICES setting.",
    )
    p.add_argument("--since", metavar="TIME", help="RFC 3339 time or a span ago: 90s, 15m, 2h, 1d")
    p.add_argument("--pattern", action="append", type=pattern_arg, metavar="PATTERN", help="repeatable")
    p.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
    add_verbose(p)
