"""Pricing rollouts that arrive with tokens but no cost, at ingest (cost_source ``priced``).

Only runs that record no cost at all are priced: where a source records costs, a missing one is left
unknown, because the recorded figures may cover something else (AlpacaEval records the judge's cost).
A model with no price stays unpriced, never $0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import duckdb

from evalbudget.engine.ingest.common import OTHER_USAGE, ROW_KEY, is_count
from evalbudget.engine.records import quoted

if TYPE_CHECKING:
    from evalbudget.pricing import PriceBook


def price_unpriced(
    conn: duckdb.DuckDBPyConnection, run_ids: Sequence[str], load_book: Callable[[], PriceBook]
) -> int:
    """Price the runs' token-only rollouts with the book at the date each ran; returns how many were priced.
    The book is loaded only when a run has such rollouts."""
    runs = [
        str(r[0])
        for r in conn.execute(
            "SELECT run_id FROM rollouts WHERE list_contains(?, run_id) GROUP BY run_id HAVING count(cost_usd) = 0",
            [list(run_ids)],
        ).fetchall()
    ]
    if not runs:
        return 0
    from evalbudget.pricing import genai_prices_source, token_cost_sql

    book = load_book()
    todo = (
        "list_contains(?, rollouts.run_id) AND rollouts.input_tokens IS NOT NULL "
        "AND rollouts.output_tokens IS NOT NULL"
    )
    pairs = conn.execute(
        f"SELECT DISTINCT model, CAST(started_at AS DATE) FROM rollouts WHERE {todo}", [runs]
    ).fetchall()
    others = _has_other_usage(conn)
    if others:  # the models the rollouts also called (graders): each priced at its own price
        pairs += conn.execute(
            f"""SELECT DISTINCT o.used_by, CAST(r.started_at AS DATE) FROM {OTHER_USAGE} o
            JOIN rollouts r USING (run_id, {_KEY}) WHERE list_contains(?, r.run_id)""",
            [runs],
        ).fetchall()
    cards = []
    for model, day in dict.fromkeys(pairs):
        card = book.resolve(str(model), day if isinstance(day, date) else None).card
        if card is not None:
            cache = card.input_mtok if card.cache_read_mtok is None else card.cache_read_mtok
            write = card.input_mtok if card.cache_write_mtok is None else card.cache_write_mtok
            cards.append((model, day, card.input_mtok, cache, write, card.output_mtok))
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _cards "
        "(model VARCHAR, day DATE, input DOUBLE, cache DOUBLE, cache_write DOUBLE, output DOUBLE)"
    )
    if not cards:
        conn.execute("DROP TABLE _cards")
        return 0
    conn.executemany(
        "INSERT INTO _cards (model, day, input, cache, cache_write, output) VALUES (?, ?, ?, ?, ?, ?)", cards
    )
    cost = token_cost_sql(
        "rollouts.input_tokens",
        "rollouts.cached_input_tokens",
        "rollouts.output_tokens",
        "rollouts.reasoning_tokens",
        "c.input",
        "c.cache",
        "c.output",
        "rollouts.cache_write_tokens",
        "c.cache_write",
    )
    row = conn.execute(
        f"""
        UPDATE rollouts SET cost_usd = {cost}, cost_source = 'priced'
        FROM _cards c
        WHERE rollouts.model = c.model AND CAST(rollouts.started_at AS DATE) IS NOT DISTINCT FROM c.day AND {todo}
        """,
        [runs],
    ).fetchone()
    priced = int(row[0]) if row else 0
    if priced and others:
        _add_other_usage(conn, runs)
    if priced:
        conn.execute(
            "UPDATE runs SET price_version = ? WHERE run_id IN "
            "(SELECT DISTINCT run_id FROM rollouts WHERE cost_source = 'priced' AND list_contains(?, run_id))",
            [genai_prices_source(), runs],
        )
    conn.execute("DROP TABLE _cards")
    return priced


_KEY = ", ".join(quoted(name) for name in ROW_KEY)


def _has_other_usage(conn: duckdb.DuckDBPyConnection) -> bool:
    found = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [OTHER_USAGE]
    ).fetchone()
    return bool(found and found[0])


def _add_other_usage(conn: duckdb.DuckDBPyConnection, runs: list[str]) -> None:
    """Add to each priced rollout the cost of the tokens it spent on other models, each at its own price (in
    ``_cards``); a rollout whose other model has no price goes back to unknown: part of its cost is unknown."""
    from evalbudget.pricing import token_cost_sql

    cost = token_cost_sql(
        "o.input_tokens",
        "o.cached_input_tokens",
        "o.output_tokens",
        "o.reasoning_tokens",
        "c.input",
        "c.cache",
        "c.output",
        "o.cache_write_tokens",
        "c.cache_write",
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _other_cost AS
        SELECT o.run_id, {", ".join("o." + quoted(n) for n in ROW_KEY)},
            sum({cost}) AS cost, bool_and(c.model IS NOT NULL AND o.input_tokens IS NOT NULL
                AND o.output_tokens IS NOT NULL) AS known
        FROM {OTHER_USAGE} o JOIN rollouts r USING (run_id, {_KEY})
        LEFT JOIN _cards c ON c.model = o.used_by AND CAST(r.started_at AS DATE) IS NOT DISTINCT FROM c.day
        WHERE list_contains(?, o.run_id) GROUP BY ALL""",
        [runs],
    )
    conn.execute(
        f"""UPDATE rollouts SET
            cost_usd = CASE WHEN x.known THEN rollouts.cost_usd + x.cost END,
            cost_source = CASE WHEN x.known THEN 'priced' ELSE 'unknown' END
        FROM _other_cost x
        WHERE rollouts.cost_source = 'priced' AND rollouts.run_id = x.run_id AND
            {" AND ".join(f"rollouts.{quoted(n)} = x.{quoted(n)}" for n in ROW_KEY)}"""
    )
    conn.execute("DROP TABLE _other_cost")


def usage_cost(
    book: PriceBook, usage: Mapping[str, Mapping[str, Any]], day: date | None = None
) -> float | None:
    """What each model's tokens in ``usage`` (model -> its token columns) cost at that model's own price on
    ``day``; None if any model has no price, no input and output counts, or a count that is not a whole number
    of 0 or more (never a partial sum)."""
    from evalbudget.pricing import token_cost

    total = 0.0
    for name, tokens in usage.items():
        card = book.resolve(name, day).card
        counts = [v for v in tokens.values() if v is not None]
        if (
            card is None
            or tokens.get("input_tokens") is None
            or tokens.get("output_tokens") is None
            or not all(is_count(v) for v in counts)
        ):
            return None
        total += float(
            token_cost(
                card,
                tokens.get("input_tokens") or 0,
                tokens.get("cached_input_tokens") or 0,
                tokens.get("output_tokens") or 0,
                tokens.get("reasoning_tokens") or 0,
                tokens.get("cache_write_tokens") or 0,
            )
        )
    return total
