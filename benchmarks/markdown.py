"""The markdown tables of the benchmark reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table(head: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> list[str]:
    """A table's lines: the head, the alignment row, then ``rows``.

    ``align`` has a letter per column: ``l`` (``---``) or ``r`` (``---:``). A cell that is None stays blank.
    """
    if len(align) != len(head) or set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r} does not fit {len(head)} columns")
    return [_row(head), "|" + "".join("---:|" if a == "r" else "---|" for a in align), *(_row(r) for r in rows)]


def _row(cells: Sequence[object]) -> str:
    return "|" + "|".join(" " if cell is None else f" {cell} " for cell in cells) + "|"
