"""Output of the CLI: rich tables on a terminal, JSON lines when piped; progress and notes on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from agentpipe.messages import AgentResult
from producers.client import first_line

out = Console(soft_wrap=False)
err = Console(stderr=True)

STATUS_STYLES = {
    "ok": "green",
    "error": "red",
    "rejected": "yellow",
    "timed_out": "magenta",
    "missing": "red",
    "done": "green",
    "cancelled": "yellow",
    "failed": "red",
    "waiting for approval": "cyan",
}


MAX_WHOLE_WIDTH = 60  # a column wider than this gives way too


def wants_json(flag: bool = False) -> bool:
    return flag or not sys.stdout.isatty()


def json_line(value: object) -> None:
    """One JSON value per line; a model prints as its record (fields it does not know included)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()  # followers (jq, tail) see each line as it happens


def styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def status_markup(status: str) -> str:
    style = STATUS_STYLES.get(status)
    return f"[{style}]{escape(status)}[/]" if style else escape(status)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    wrap: Sequence[str] = (),
    cut: Sequence[str] = (),
) -> Table:
    """Cells stay whole on one line, except free-text columns: ``wrap`` ones fold, ``cut`` ones end in …

    The whole columns keep their width on a narrow terminal; the free-text ones give way.
    """
    cells = [
        [cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row] for row in rows
    ]
    free = set(wrap) | set(cut)
    # Columns cut with … share what the whole ones leave (ratio), so the table spans the terminal.
    t = Table(title=title, title_justify="left", show_lines=False, expand=bool(set(cut) & set(columns)))
    for i, name in enumerate(columns):
        widest = max([len(name), *(row[i].cell_len for row in cells)])
        t.add_column(
            name,
            no_wrap=name not in wrap,
            overflow="fold" if name in wrap else "ellipsis",
            ratio=1 if name in cut else None,
            width=None if name in free else min(widest, MAX_WHOLE_WIDTH),
        )
    for row in cells:
        t.add_row(*row)
    return t


def results_table(results: Sequence[AgentResult], title: str | None = None) -> Table:
    return table(
        title,
        ["completed", "request id", "pattern", "status", "route", "calls", "tokens", "output"],
        (
            [
                clock(r.completed_at),
                r.request_id,
                r.pattern,
                styled(r.status),
                r.route or "",
                r.usage.llm_calls,
                tokens_text(r),
                summary_text(r),
            ]
            for r in results
        ),
        cut=("output",),
    )


def clock(rfc3339: str | None) -> str:
    """HH:MM:SS of an RFC 3339 time (the date is rarely what a reader of recent results needs)."""
    return (rfc3339 or "")[11:19]


def tokens_text(result: AgentResult) -> str:
    """prompt + completion tokens, as the model reported them."""
    return f"{result.usage.prompt_tokens}+{result.usage.completion_tokens}"


def summary_text(result: AgentResult) -> str:
    """The error (if any) and the first line of the output."""
    return " ".join(filter(None, [result.error, first_line(result.output)]))


def result_header(result: AgentResult) -> str:
    """Rich markup; every piece of the record is escaped (a ``[/]`` in it must print as itself)."""
    route = f" via {escape(result.route)}" if result.route else ""
    replay = f" (replay of {escape(result.replay_of)})" if result.replay_of else ""
    error = f" [red]{escape(result.error)}[/]" if result.error else ""
    usage = f" ({result.usage.llm_calls} LLM calls, {tokens_text(result)} tokens)" if result.usage.llm_calls else ""
    return (
        f"{escape(result.completed_at)} {escape(result.pattern)} "
        f"{escape(result.request_id)} {status_markup(result.status)}{route}{replay}{usage}{error}"
    )


def result_line(result: AgentResult) -> str:
    return f"{result_header(result)}: {escape(first_line(result.output))}"


def show_result(result: AgentResult) -> None:
    """One result in full: JSON when piped, a header and the whole output on a terminal."""
    if wants_json():
        json_line(result)
        return
    out.print(result_header(result), highlight=False)
    output = result.output
    out.print("\n".join(output) if isinstance(output, list) else output or "", markup=False, highlight=False)


def progress() -> Progress:
    """A progress display on stderr (it shows only its final state when stderr is not a terminal)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
