"""`agentpipe replay`: re-publish a slice of a topic as new requests."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from itertools import islice

from rich.markup import escape

from producers.client import AgentpipeClient
from producers.commands.base import Subcommands, add_command, add_timeout, pattern_arg
from producers.commands.compare import add_compare_options, finish, run_compare
from producers.compare import result_topic_ends
from producers.errors import InvalidInput
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK, EXIT_TIMEOUT
from producers.render import err, json_line, out, progress, table, wants_json
from producers.replay import ReplayItem, ReplayPlanner, ReplaySlice, ReplaySummary, plan_slice, read_slice, run_replay


def show_plan(planner: ReplayPlanner, items: Iterable[ReplayItem], replay_slice: ReplaySlice, as_json: bool) -> None:
    """The dry run, streamed: JSON lines as items are planned, or a table of the first ten and a count."""
    if as_json:
        for item in items:
            json_line({"request_id": item.request_id, "replay_of": item.replay_of, "key": item.key, "body": item.body})
        return
    first = list(islice(items, 10))
    rest = sum(1 for _ in items)
    out.print(
        f"dry run: would publish {len(first) + rest} request(s) to {planner.pattern} "
        f"from {escape(replay_slice.describe())} as batch {planner.batch}",
        highlight=False,
    )
    out.print(
        table(None, ["new request id", "replay of", "key"], ([i.request_id, i.replay_of, i.key or ""] for i in first))
    )
    if rest:
        out.print(f"... and {rest} more")


def show_skipped(planner: ReplayPlanner) -> None:
    for reason in planner.skip_reasons:
        err.print(f"skipped {escape(reason)}", highlight=False)
    if planner.skipped > len(planner.skip_reasons):
        err.print(f"... {planner.skipped} skipped in all", highlight=False)


def show_summary(summary: ReplaySummary, as_json: bool) -> None:
    if as_json:
        json_line(summary.to_dict())
        return
    rows = [
        ("batch", summary.batch),
        ("pattern", summary.pattern),
        ("published", summary.published),
        ("skipped", summary.skipped),
    ]
    if summary.waited:
        rows += [("ok", summary.ok), ("error", summary.not_ok), ("missing", summary.missing)]
        rows += [(f"  {status}", n) for status, n in sorted(summary.statuses.items()) if status != "ok"]
    t = table("replay summary", ["", ""], rows)
    t.show_header = False
    out.print(t)
    if summary.missing_examples:
        err.print("missing, e.g.: " + ", ".join(summary.missing_examples), highlight=False)


def exit_code(summary: ReplaySummary) -> int:
    if summary.missing:
        return EXIT_TIMEOUT
    return EXIT_NOT_OK if summary.not_ok else EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    as_json = wants_json(args.json)
    if args.compare and args.dry_run:
        raise InvalidInput("--compare compares results: it cannot go with --dry-run")
    planner = ReplayPlanner(args.pattern, model=args.model, temperature=args.temperature)
    replay_slice = plan_slice(
        args.source_topic, args.partition, args.from_offset, args.to_offset, args.since, args.until
    )
    records = read_slice(replay_slice)
    if args.dry_run:
        show_plan(planner, planner.items(records), replay_slice, as_json)
        show_skipped(planner)
        return EXIT_OK
    client = AgentpipeClient()
    # Taken before publishing: every result of the batch lies past these offsets.
    batch_from = result_topic_ends([planner.pattern]) if args.compare else None
    wait = args.wait or args.compare
    with progress() as bar:
        published = bar.add_task("published", total=replay_slice.size)
        received = bar.add_task("results", total=None, visible=wait)
        summary = run_replay(
            client,
            planner,
            records,
            wait,
            args.timeout,
            on_published=lambda: bar.advance(published),
            on_result=lambda _: bar.advance(received),
        )
        bar.update(published, total=summary.published)
        bar.update(received, total=summary.published)
    show_skipped(planner)
    if args.compare:
        return compare_after(summary, batch_from, args, as_json)
    show_summary(summary, as_json)
    return exit_code(summary)


def compare_after(
    summary: ReplaySummary, batch_from: dict[tuple[str, int], int] | None, args: argparse.Namespace, as_json: bool
) -> int:
    """replay --compare: the batch against its originals; exit 1 when something regressed, else 4 when
    results are missing, else 0 (results failing before and now do not count against the replay)."""
    if not as_json:
        show_summary(summary, as_json)
    report = run_compare(summary.batch, [summary.pattern], args.show, batch_from=batch_from, replay=summary.to_dict())
    code = finish(report, args)
    if code == EXIT_OK and summary.missing:
        return EXIT_TIMEOUT
    return code


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "replay",
        "re-publish a slice of a topic as new requests (new ids, replay_of set)",
        [
            "agentpipe replay agent.requests.chaining --pattern chaining --from-offset 0 --to-offset 49 --wait",
            "agentpipe replay agent.requests.orchestrator --pattern orchestrator --since 2h --until 1h --dry-run",
            "agentpipe replay agent.requests.chat --pattern chat --since 2026-01-31T09:00:00Z --wait",
            "agentpipe replay agent.requests.chaining --pattern chaining --since 1h --model gpt-4o --temperature 0 --wait",
            "agentpipe replay agent.requests.chaining --pattern chaining --since 1h --compare --show 10",
        ],
        cmd_replay,
        "Each record becomes a request with a new id (one batch per run, so replaying the same slice twice "
        "gives two batches) and replay_of = the original request id (body request_id, else "
        "<topic>/<partition>/<offset>). Offsets apply to every partition (or --partition); --to-offset is "
        "inclusive, --until exclusive; times are RFC 3339 or a span ago (90s, 15m, 2h, 1d). Without a range: "
        "the whole topic, streamed in chunks (memory does not grow with the slice). --model and --temperature replace "
        "the original's choice in every replayed body. With --wait: exit 0 when every result is ok, 1 when some are not, 4 when some are missing. "
        "--compare (implies --wait) then joins each result with the original result of its replay_of, as "
        "`agentpipe compare` does, and exits 1 when one that was ok before is failing now, else 4 when some are "
        "missing, else 0.",
    )
    p.add_argument("source_topic", metavar="SOURCE_TOPIC")
    p.add_argument("--pattern", type=pattern_arg, required=True, metavar="P", help="the pattern to send them to")
    p.add_argument("--partition", type=int, action="append", metavar="N", help="only this partition (repeatable)")
    p.add_argument("--from-offset", type=int, metavar="N", help="first offset (inclusive)")
    p.add_argument("--to-offset", type=int, metavar="M", help="last offset (inclusive)")
    p.add_argument("--since", metavar="T", help="records at or after time T")
    p.add_argument("--until", metavar="T", help="records before time T")
    p.add_argument(
        "--model",
        metavar="M",
        help="run every replayed request on model M (the default or one in AGENTPIPE_ALLOWED_MODELS; "
        "the service dead-letters another)",
    )
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (0 to 2) of every request")
    p.add_argument("--dry-run", action="store_true", help="show what would be published, publish nothing")
    p.add_argument("--wait", action="store_true", help="wait for every result and summarize ok / error / missing")
    p.add_argument(
        "--compare",
        action="store_true",
        help="then compare each result with the original (same, changed, regressed, fixed); implies --wait",
    )
    add_compare_options(p)
    p.add_argument(
        "--json", action="store_true", help="summary (with --compare: the report) as JSON even on a terminal"
    )
    add_timeout(p, 300.0)
