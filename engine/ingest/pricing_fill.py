"""Pricing rollouts that arrive with tokens but no cost, at ingest (cost_source ``priced``).

Only runs that record no cost at all are priced: where a source records costs, a missing one is left
unknown, because the recorded figures may cover something else (AlpacaEval records the judge's cost).
A model with no price stays unpriced, never $0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING

import duckdb

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
    cards = []
    for model, day in pairs:
        card = book.resolve(str(model), day if isinstance(day, date) else None).card
        if card is not None:
            cache = card.input_mtok if card.cache_read_mtok is None else card.cache_read_mtok
            cards.append((model, day, card.input_mtok, cache, card.output_mtok))
    if not cards:
        return 0
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _cards (model VARCHAR, day DATE, input DOUBLE, cache DOUBLE, output DOUBLE)"
    )
    conn.executemany("INSERT INTO _cards (model, day, input, cache, output) VALUES (?, ?, ?, ?, ?)", cards)
    cost = token_cost_sql(
        "rollouts.input_tokens",
        "rollouts.cached_input_tokens",
        "rollouts.output_tokens",
        "rollouts.reasoning_tokens",
        "c.input",
        "c.cache",
        "c.output",
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
    if priced:
        conn.execute(
            "UPDATE runs SET price_version = ? WHERE run_id IN "
            "(SELECT DISTINCT run_id FROM rollouts WHERE cost_source = 'priced' AND list_contains(?, run_id))",
            [genai_prices_source(), runs],
        )
    conn.execute("DROP TABLE _cards")
    return priced
