"""Predicted per-item costs for candidates that have no results on a benchmark yet.

The tokens other models spent on each item (mean input, cached input, output and reasoning tokens over the
store's rollouts of that item) times the candidate's price card. A benchmark with no token counts can take a
stated fallback instead: cost like a model the store holds there, scaled by the ratio of the two models'
blended prices (``like``). A candidate with no price, or no token counts and no fallback, gets a clear refusal
rather than a guessed cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.errors import InputError
from evalbudget.engine.sim.data import BenchmarkData
from evalbudget.pricing import PriceBook, PriceCard, price_ratio, token_cost
from evalbudget.pricing.cost import BLENDED_INPUT_PER_OUTPUT


@dataclass(frozen=True)
class CandidateCosts:
    """Per-item cost rows for a plan's candidates, and how each new one's was predicted (for the plan)."""

    rows: np.ndarray
    notes: list[str]


def candidate_costs(
    conn: duckdb.DuckDBPyConnection,
    data: BenchmarkData,
    candidates: Sequence[Candidate],
    book: PriceBook,
    *,
    like: Candidate | None = None,
) -> CandidateCosts | None:
    """Per-item cost rows for ``candidates``: their own where the store has them, predicted for new ones
    (from token counts, else like ``like``); None when every candidate is already in the store."""
    new = [c for c in candidates if c not in data.candidates]
    if not new:
        return None
    known = data.unit_costs()
    rows = {c: i for i, c in enumerate(data.candidates)}
    if like is not None and like not in rows:
        raise InputError(
            f"The model to cost new candidates like ('{like}') has no results on {data.benchmark}."
        )
    notes: list[str] = []
    if like is not None and data.has_cost and not has_token_counts(conn, data.benchmark):
        base = candidate_card(book, like, "new candidates cannot be costed like it")
        predicted = np.empty((len(new), data.n_items))
        for i, c in enumerate(new):
            ratio = price_ratio(candidate_card(book, c, "its cost cannot be predicted"), base)
            if ratio is None:
                raise InputError(f"'{like}' is priced at $0, so no cost can be scaled from it.")
            predicted[i] = known[rows[like]] * ratio
            notes.append(
                f"'{c}' costs each item like '{like}' x {ratio:.3g} (their prices at "
                f"{BLENDED_INPUT_PER_OUTPUT:g} input tokens per output token): {data.benchmark} has no token counts"
            )
    else:
        predicted = predicted_costs(conn, data.benchmark, data.items, new, book, has_cost=data.has_cost)
    return CandidateCosts(
        np.vstack([predicted[new.index(c)] if c in new else known[rows[c]] for c in candidates]), notes
    )


def has_token_counts(conn: duckdb.DuckDBPyConnection, benchmark: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM rollouts WHERE benchmark = ? AND input_tokens IS NOT NULL AND output_tokens IS NOT NULL "
        "LIMIT 1",
        [benchmark],
    ).fetchone()
    return row is not None


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
               avg(coalesce(reasoning_tokens, 0)), avg(coalesce(cache_write_tokens, 0))
        FROM rollouts WHERE benchmark = ? AND input_tokens IS NOT NULL AND output_tokens IS NOT NULL
        GROUP BY item_id
        """,
        [benchmark],
    ).fetchall()
    if not rows:
        raise InputError(
            f"{benchmark} has no token counts, so the cost of a new candidate ('{candidates[0]}') cannot be "
            "predicted from them; name a model the store holds there to cost it like (scaled by their prices), "
            "or ingest results with tokens."
        )
    tokens = {str(r[0]): np.array(r[1:], dtype=np.float64) for r in rows}
    mean_tokens = np.mean(np.array(list(tokens.values())), axis=0)
    usage = np.array([tokens.get(item, mean_tokens) for item in items])
    out = np.empty((len(candidates), len(items)))
    for i, candidate in enumerate(candidates):
        card = candidate_card(book, candidate, "its cost cannot be predicted")
        out[i] = token_cost(card, usage[:, 0], usage[:, 1], usage[:, 2], usage[:, 3], usage[:, 4])
    return out


def candidate_card(book: PriceBook, candidate: Candidate, consequence: str) -> PriceCard:
    """The price card of a plan candidate (its model's, whatever the scaffold); no card is refused by name."""
    card = book.resolve(candidate.model).card
    if card is None:
        raise InputError(
            f"Candidate '{candidate}' has no price, so {consequence}: add it to prices.toml (or an alias)."
        )
    return card
