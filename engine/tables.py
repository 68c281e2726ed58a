"""Text tables for the terminal: every tabular CLI output goes through ``render_table`` (rich's Table, rendered
to plain text), so columns align the same way everywhere."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

WIDE = 400
"""The width tables are laid out in: wide enough that no column is squeezed; long names are cut instead."""


@dataclass(frozen=True)
class Col:
    name: str
    right: bool = False
    """Right-aligned (numbers)."""
    max_width: int | None = None
    """Longer values are cut with an ellipsis."""


def render_table(
    columns: Sequence[Col], rows: Iterable[Sequence[object]], totals: Sequence[object] | None = None
) -> str:
    """``rows`` under a header line and a rule, with an optional ``totals`` row after a second rule."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), show_footer=False)
    for column in columns:
        table.add_column(
            column.name,
            justify="right" if column.right else "left",
            no_wrap=True,
            max_width=column.max_width,
            overflow="ellipsis",
        )
    for row in rows:
        table.add_row(*(str(value) for value in row))
    if totals is not None:
        table.add_section()
        table.add_row(*(str(value) for value in totals))
    console = Console(
        file=io.StringIO(), width=WIDE, color_system=None, highlight=False, emoji=False, markup=False
    )
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines())


def money(value: float | None) -> str:
    """Dollars to read; an unknown amount is "unknown", never $0."""
    return "unknown" if value is None else f"{value:,.2f}"
