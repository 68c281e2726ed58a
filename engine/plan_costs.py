"""Predicted per-item costs for candidates that have no results on a benchmark yet.

The tokens other models spent on each item (mean input, cached input, output and reasoning tokens over the
store's rollouts of that item) times the candidate's price card. A benchmark with no token counts, or a
candidate with no price, gets a clear refusal rather than a guessed cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.errors import InputError
from evalbudget.engine.sim.data import BenchmarkData
from evalbudget.pricing import PriceBook, PriceCard, token_cost


def candidate_costs(
    conn: duckdb.DuckDBPyConnection, data: BenchmarkData, candidates: Sequence[Candidate], book: PriceBook
) -> np.ndarray | None:
    """Per-item cost rows for ``candidates``: their own where the store has them, predicted for new ones;
    None when every candidate is already in the store."""
    new = [c for c in candidates if c not in data.candidates]
    if not new:
        return None
    predicted = predicted_costs(conn, data.benchmark, data.items, new, book, has_cost=data.has_cost)
    known = data.unit_costs()
    rows = {c: i for i, c in enumerate(data.candidates)}
    return np.vstack([predicted[new.index(c)] if c in new else known[rows[c]] for c in candidates])


def predicted_costs(
    conn: duckdb.DuckDBPyConnection,
    benchmark: str,
    items: Sequence[str],
    candidates: Sequence[Candidate],
    book: PriceBook,
    *,
    has_cost: bool,
) -> np.ndarray:
    """(len(candidates), len(items)) predicted cost of one run of each item by each candidate."""
    if not has_cost:
        return np.ones((len(candidates), len(items)))  # budgets count rollouts there
    rows = conn.execute(
        """
        SELECT item_id, avg(input_tokens), avg(coalesce(cached_input_tokens, 0)), avg(output_tokens),
               avg(coalesce(reasoning_tokens, 0))
        FROM rollouts WHERE benchmark = ? AND input_tokens IS NOT NULL AND output_tokens IS NOT NULL
        GROUP BY item_id
        """,
        [benchmark],
    ).fetchall()
    if not rows:
        raise InputError(
            f"{benchmark} has no token counts, so the cost of a new candidate ('{candidates[0]}') cannot be "
            "predicted; plan with models the store already holds on it, or ingest results with tokens."
        )
    tokens = {str(r[0]): np.array(r[1:], dtype=np.float64) for r in rows}
    mean_tokens = np.mean(np.array(list(tokens.values())), axis=0)
    usage = np.array([tokens.get(item, mean_tokens) for item in items])
    out = np.empty((len(candidates), len(items)))
    for i, candidate in enumerate(candidates):
        card = candidate_card(book, candidate, "its cost cannot be predicted")
        out[i] = token_cost(card, usage[:, 0], usage[:, 1], usage[:, 2], usage[:, 3])
    return out


def candidate_card(book: PriceBook, candidate: Candidate, consequence: str) -> PriceCard:
    """The price card of a plan candidate (its model's, whatever the scaffold); no card is refused by name."""
    card = book.resolve(candidate.model).card
    if card is None:
        raise InputError(
            f"Candidate '{candidate}' has no price, so {consequence}: add it to prices.toml (or an alias)."
        )
    return card
