"""Filling a DataTable from a worker's result, with its columns sized before any row is drawn.

A DataTable left to size its own columns measures them when its message queue next runs dry, after the rows
may already have been drawn at the labels' widths; those drawn lines are cached under a key that leaves the
widths out, so a table filled from a worker could keep showing header-wide, truncated columns. Giving each
column its width up front removes the race.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.errors import MarkupError
from rich.text import Text
from textual.widgets import DataTable


def cell_width(cell: object) -> int:
    """The terminal cells a DataTable cell takes on one line (strings are read as markup, as the table does)."""
    if isinstance(cell, Text):
        return cell.cell_len
    if isinstance(cell, str):
        try:
            return Text.from_markup(cell).cell_len
        except MarkupError:
            return Text(cell).cell_len
    return Text(f"{cell:.2f}" if isinstance(cell, float) else str(cell)).cell_len


def replace_rows(
    table: DataTable[Any],
    rows: Iterable[Sequence[Any]],
    keys: Iterable[str] | None = None,
    labels: Sequence[str] | None = None,
) -> None:
    """Show exactly ``rows`` (keyed by ``keys`` where given; with ``labels``, the columns' new labels). Columns
    created with a width keep it; the others are as wide as their label or widest cell."""
    rows = [tuple(row) for row in rows]
    columns = [(c.label, c.key, None if c.auto_width else c.width) for c in table.ordered_columns]
    if labels is not None:
        columns = [(Text(new), key, width) for new, (_, key, width) in zip(labels, columns, strict=True)]
    table.clear(columns=True)
    for index, (label, column_key, width) in enumerate(columns):
        if width is None:
            width = max([label.cell_len, *(cell_width(row[index]) for row in rows if index < len(row))])
        table.add_column(label, width=width, key=column_key.value)
    row_keys: list[str | None] = [None] * len(rows) if keys is None else list(keys)
    for row, row_key in zip(rows, row_keys, strict=True):
        table.add_row(*row, key=row_key)
