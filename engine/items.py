"""Items the launcher can run: ``load_items_file`` puts prompts, targets and scorers from JSONL into the items
table; ``read_items`` reads them back.

One JSON object per line: ``id``, ``input`` (a string, or a list of chat messages ``{"role", "content"}``),
``target``, ``scorer`` (exact, includes, choice, numeric), and optionally ``choices``, ``max_tokens`` and
``stratum``. Same rules as ingest: one transaction, and a bad line is named with the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import iter_jsonl
from evalbudget.engine.records import ITEMS, Item

SCORERS = ("exact", "includes", "choice", "numeric")
MAX_TOKENS_LIMIT = 10_000_000
"""No model answers with more; a larger max_tokens is a typo that would make every worst case absurd."""


@dataclass
class LoadedItems:
    benchmark: str
    added: int
    updated: int


def _check(where: str, record: dict[str, Any]) -> tuple[Any, ...]:
    item_id = record.get("id")
    if item_id is None or (isinstance(item_id, str) and not item_id.strip()):
        raise InputError(f"{where}: no 'id'.")
    prompt = record.get("input")
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InputError(f"{where}: 'input' is empty.")
        stored_input = prompt
    elif (
        isinstance(prompt, list)
        and prompt
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in prompt
        )
    ):
        stored_input = json.dumps(prompt)
    else:
        raise InputError(f'{where}: \'input\' must be a string or a list of {{"role", "content"}} messages.')
    if "target" not in record or record["target"] is None:
        raise InputError(f"{where}: no 'target'.")
    scorer = record.get("scorer")
    if scorer not in SCORERS:
        raise InputError(f"{where}: scorer {scorer!r} is not one of {', '.join(SCORERS)}.")
    choices = record.get("choices")
    if scorer == "choice" and (not isinstance(choices, list) or len(choices) < 2):
        raise InputError(f"{where}: a 'choice' item needs a 'choices' list of at least two options.")
    if choices is not None and not isinstance(choices, list):
        raise InputError(f"{where}: 'choices' must be a list.")
    if scorer == "numeric":
        try:
            float(str(record["target"]).replace(",", ""))
        except ValueError:
            raise InputError(
                f"{where}: a 'numeric' item's target {record['target']!r} is not a number."
            ) from None
    max_tokens = record.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise InputError(f"{where}: 'max_tokens' must be a whole number from 1 to {MAX_TOKENS_LIMIT:,}.")
    stratum = record.get("stratum")
    return (
        str(item_id),
        None if stratum is None else str(stratum),
        stored_input,
        json.dumps(record["target"]) if not isinstance(record["target"], str) else record["target"],
        scorer,
        json.dumps(choices) if choices is not None else None,
        max_tokens,
    )


def load_items_file(conn: duckdb.DuckDBPyConnection, path: Path, benchmark: str) -> LoadedItems:
    """Check every line of the JSONL file at ``path``, then add or update its items in one transaction."""
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    if not benchmark.strip():
        raise InputError("--benchmark needs a name.")
    rows = []
    seen: dict[str, int] = {}
    for line, record in iter_jsonl(path):
        row = _check(f"{path}, line {line}", record)
        if row[0] in seen:
            raise InputError(f"{path}, line {line}: id {row[0]!r} repeats line {seen[row[0]]}.")
        seen[row[0]] = line
        rows.append((benchmark, *row))
    if not rows:
        raise InputError(f"{path}: holds no items.")
    conn.execute("BEGIN TRANSACTION")
    try:
        existing = conn.execute(
            "SELECT count(*) FROM items WHERE benchmark = ? AND list_contains(?, item_id)",
            [benchmark, list(seen)],
        ).fetchone()
        conn.executemany(
            f"""
            {ITEMS.insert()}
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (benchmark, item_id) DO UPDATE SET
                stratum = coalesce(excluded.stratum, items.stratum), input = excluded.input,
                target = excluded.target, scorer = excluded.scorer, choices = excluded.choices,
                max_tokens = excluded.max_tokens
            """,
            rows,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    updated = int(existing[0]) if existing else 0
    return LoadedItems(benchmark=benchmark, added=len(rows) - updated, updated=updated)


def read_items(
    conn: duckdb.DuckDBPyConnection, benchmark: str, item_ids: Sequence[str] | None = None
) -> dict[str, Item]:
    """The benchmark's items by id: those named (an id the store does not know gets an item without a
    prompt, which backends that need none, such as replay, still run), or all of them in id order."""
    wanted = None if item_ids is None else list(item_ids)
    rows = conn.execute(
        f"SELECT {', '.join(ITEMS.names)} FROM items WHERE benchmark = $benchmark "
        "AND ($wanted::VARCHAR[] IS NULL OR list_contains($wanted::VARCHAR[], item_id)) ORDER BY item_id",
        {"benchmark": benchmark, "wanted": wanted},
    ).fetchall()
    found = {str(r[1]): Item(*r) for r in rows}
    if item_ids is None:
        return found
    return {i: found.get(i, Item(benchmark, i)) for i in item_ids}
