"""`agentpipe compare BATCH`: what changed when a replay batch ran again (also `agentpipe replay --compare`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.text import Text

from agentpipe.messages import now_rfc3339
from producers.commands.base import Subcommands, add_command, pattern_arg
from producers.compare import (
    COUNT_COLUMNS,
    CompareReport,
    Example,
    PatternReport,
    compare_batch,
    counts_row,
    markdown,
    models_text,
)
from producers.errors import InvalidInput
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK
from producers.render import err, json_line, out, progress, table, wants_json

REPORTS_FOLDER = Path("replay-reports")
PASS_NAMES = {1: "pass 1: batch results", 2: "pass 2: originals", 3: "pass 3: replay outputs"}
EXIT_HELP = "Exit 0 when nothing regressed, 1 when a result that was ok before is failing now."


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def add_compare_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--show",
        type=non_negative_int,
        default=5,
        metavar="N",
        help="show the first N changed outputs as diffs, and the first N regressed, fixed and without an "
        "original (default 5; 0: counts only)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="PATH",
        help=f"write the markdown report here (default {REPORTS_FOLDER}/<batch>.md)",
    )


def report_path(batch: str, given: Path | None) -> Path:
    if given is not None:
        return given
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in batch)
    return REPORTS_FOLDER / f"{safe}.md"


def write_report(report: CompareReport, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(report, now_rfc3339()), encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def run_compare(
    batch: str,
    patterns: list[str] | None,
    show: int,
    batch_from: dict[tuple[str, int], int] | None = None,
    replay: dict[str, Any] | None = None,
) -> CompareReport:
    """The comparison with a progress bar per pass on stderr."""
    with progress() as bar:
        tasks: dict[int, Any] = {}

        def on_progress(number: int, read: int, total: int) -> None:
            if number not in tasks:
                tasks[number] = bar.add_task(PASS_NAMES[number], total=total)
            bar.update(tasks[number], completed=read)

        return compare_batch(batch, patterns, show, batch_from=batch_from, replay=replay, on_progress=on_progress)


DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"), ("item ", "bold"))


def diff_text(lines: list[str]) -> Text:
    text = Text()
    for line in lines:
        style = next((s for prefix, s in DIFF_STYLES if line.startswith(prefix)), "")
        text.append(line + "\n", style=style)
    return text


def shown(pattern: PatternReport, outcome: str) -> str:
    total, count = pattern.count(outcome), len(pattern.examples.get(outcome, []))
    return f" (first {count} of {total})" if count < total else ""


def example_title(example: Example) -> str:
    return f"{escape(example.request_id)} [dim](replay of {escape(example.replay_of)})[/]"


def show_pattern(pattern: PatternReport) -> None:
    models, replays = models_text(pattern.original_models), models_text(pattern.replay_models)
    out.print(f"\n[bold]{escape(pattern.pattern)}[/]: models originals {escape(models)}; replays {escape(replays)}")
    for example in pattern.examples.get("changed", []):
        out.print(f"\nchanged: {example_title(example)}")
        if example.replay is None:
            out.print("(the replay's result is no longer on the topic)")
        else:
            out.print(diff_text(example.diff()), end="")
    if pattern.count("changed") > len(pattern.examples.get("changed", [])):
        out.print(f"[dim]... {pattern.count('changed')} changed in all[/]")
    for outcome, failing_side in (("regressed", "replay"), ("fixed", "original")):
        examples = pattern.examples.get(outcome, [])
        if examples:
            out.print(f"\n{outcome}{shown(pattern, outcome)}:")
        for example in examples:
            now = example.replay.status if example.replay else "?"
            side = example.replay if failing_side == "replay" else example.original
            error = f": {escape(side.error)}" if side and side.error else ""
            out.print(f"  {example_title(example)} {example.original.status} -> {now}{error}", highlight=False)
    if pattern.no_original:
        more = len(pattern.no_original_examples) < pattern.no_original
        out.print(f"\nno original result{' (first ' + str(len(pattern.no_original_examples)) + ')' if more else ''}:")
        for request_id, original in pattern.no_original_examples:
            named = f"replay of {escape(original)}" if original else "names no original"
            out.print(f"  {escape(request_id)} [dim]({named})[/]", highlight=False)


def show_report(report: CompareReport, path: Path, as_json: bool) -> None:
    if as_json:
        json_line({**report.to_dict(), "report": str(path)})
        return
    rows = ([name, *counts_row(p)] for name, p in report.patterns.items())
    out.print(table(f"{report.batch} compared with the originals", ["pattern", *(t for _, t in COUNT_COLUMNS)], rows))
    for pattern in report.patterns.values():
        show_pattern(pattern)
    if report.skipped:
        err.print(f"skipped {report.skipped} record(s) that were not results", highlight=False)
    err.print(f"report: {escape(str(path))}", highlight=False)


def finish(report: CompareReport, args: argparse.Namespace) -> int:
    """Write the markdown, show the report; the exit code says whether something regressed."""
    path = report_path(report.batch, args.report)
    write_report(report, path)
    show_report(report, path, wants_json(args.json))
    return EXIT_NOT_OK if report.regressed else EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    report = run_compare(args.batch, args.pattern, args.show)
    return finish(report, args)


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "compare",
        "what changed when a replay batch ran again: its results against the originals",
        [
            "agentpipe compare replay-0eb3e770",
            "agentpipe compare replay-0eb3e770 --pattern chaining --show 20",
            "agentpipe compare replay-0eb3e770 --json | jq .patterns.chaining.regressed",
        ],
        cmd_compare,
        "Each result of the batch (request ids <batch>-<sequence>) is joined with the first result of the "
        "request named in its replay_of on the same pattern's result topic, and counted as same output, "
        "changed output, regressed (ok before, failing now), fixed (failing before, ok now), still failing, "
        f"or no original. The first N changed outputs are shown as diffs. The report is also written as "
        f"markdown ({REPORTS_FOLDER}/<batch>.md, or --report). Streams in up to three passes over the result "
        f"topics, with memory for the batch, not the topics. {EXIT_HELP}",
    )
    p.add_argument("batch", metavar="BATCH", help="the batch id replay printed (replay-xxxxxxxx)")
    p.add_argument(
        "--pattern",
        type=pattern_arg,
        action="append",
        metavar="P",
        help="only this pattern's result topic (repeatable; default: every result topic there is)",
    )
    add_compare_options(p)
    p.add_argument("--json", action="store_true", help="the report as one JSON object even on a terminal")
