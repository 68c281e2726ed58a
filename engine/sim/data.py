"""A benchmark's past results as dense arrays: candidates x items scores and costs, and the repeats.

DuckDB does the grouping; numpy holds the result. A candidate is a model (scaffold ``""``), or a (model,
scaffold) pair where the benchmark holds one model under several scaffolds, so scaffold choice is simulated
like model choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from evalbudget.engine.candidates import Candidate, candidate
from evalbudget.engine.errors import InputError
from evalbudget.engine.records import NOT_HISTORY


@dataclass
class BenchmarkData:
    benchmark: str
    candidates: list[Candidate]
    items: list[str]
    strata: np.ndarray
    """Stratum index of each item (0 when the benchmark has none)."""
    stratum_names: list[str]
    scores: np.ndarray
    """candidates x items: mean score over repeats; NaN where the pair was never run."""
    costs: np.ndarray
    """candidates x items: mean cost of one rollout in dollars; NaN where unknown."""
    repeat_scores: np.ndarray
    """candidates x items x repeats: every attempt's score, NaN-padded."""
    has_cost: bool
    """Whether any rollout of the benchmark has a known cost (else budgets count rollouts)."""
    released: np.ndarray | None = None
    """Per candidate, when its model came out, in days since 1970 (the store's release date, else when its
    results on the benchmark were first recorded); NaN where neither is known; None when not loaded."""

    @property
    def n_candidates(self) -> int:
        return len(self.candidates)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def full_scores(self) -> np.ndarray:
        """Each candidate's score on the whole benchmark (mean over items of its mean over repeats); NaN for a
        candidate with no results (a new model in a plan)."""
        return _nanmean_or(self.scores, axis=1, fallback=np.nan)

    def unit_costs(self) -> np.ndarray:
        """candidates x items cost of running an item once: dollars, with unknowns filled by the item's mean
        over candidates (then the candidate's, then the benchmark's); without cost data, 1 per rollout."""
        if not self.has_cost:
            return np.ones_like(self.scores)
        filled = self.costs.copy()
        item_mean = _nanmean_or(self.costs, axis=0, fallback=np.nan)
        rows, cols = np.where(np.isnan(filled))
        filled[rows, cols] = item_mean[cols]
        model_mean = _nanmean_or(self.costs, axis=1, fallback=np.nan)
        rows, cols = np.where(np.isnan(filled))
        filled[rows, cols] = model_mean[rows]
        if np.isnan(filled).any():
            filled[np.isnan(filled)] = float(np.nanmean(self.costs))
        return filled


def _nanmean_or(values: np.ndarray, axis: int, fallback: float) -> np.ndarray:
    counts = np.sum(~np.isnan(values), axis=axis)
    sums = np.nansum(values, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), fallback)


def benchmarks_with_rollouts(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT benchmark FROM rollouts ORDER BY 1").fetchall()]


def load_benchmark(
    conn: duckdb.DuckDBPyConnection, benchmark: str, *, without_plan: str | None = None
) -> BenchmarkData:
    """The benchmark's rollouts as arrays (leaving out what is no history: runs the user excluded, replayed
    launches, which copy stored rollouts, and the runs of the plan ``without_plan``); a benchmark with no
    per-rollout data is refused by name."""
    cursor = conn.cursor()
    history = (
        f"(SELECT * FROM rollouts WHERE benchmark = $benchmark AND run_id NOT IN ({NOT_HISTORY}) AND run_id NOT IN "
        "(SELECT run_id FROM runs WHERE plan_id IS NOT NULL AND plan_id = $plan))"
    )
    params = {"benchmark": benchmark, "plan": without_plan}
    count = cursor.execute(f"SELECT count(*) FROM {history}", params).fetchone()
    if not count or not count[0]:
        known = ", ".join(benchmarks_with_rollouts(conn)) or "none"
        raise InputError(f"Benchmark {benchmark!r} has no per-rollout data in the store (known: {known}).")
    rows = cursor.execute(
        f"""
        WITH r AS (
            SELECT model, scaffold, item_id, "repeat", coalesce(score, 0) AS score, cost_usd,
                   count(DISTINCT scaffold) OVER (PARTITION BY model) AS scaffolds
            FROM {history}
        )
        SELECT model, CASE WHEN scaffolds > 1 THEN scaffold ELSE '' END AS scaffold,
               item_id, list(score ORDER BY "repeat"), avg(cost_usd)
        FROM r GROUP BY ALL
        """,
        params,
    ).fetchall()
    candidates = sorted({candidate(r[0], r[1]) for r in rows}, key=lambda c: (c.model, c.scaffold))
    item_rows = cursor.execute(
        f"""
        SELECT DISTINCT r.item_id, coalesce(i.stratum, '') FROM {history} r
        LEFT JOIN items i ON i.benchmark = r.benchmark AND i.item_id = r.item_id
        ORDER BY 1
        """,
        params,
    ).fetchall()
    items = [str(r[0]) for r in item_rows]
    stratum_names = sorted({str(r[1]) for r in item_rows})
    stratum_index = {name: i for i, name in enumerate(stratum_names)}
    strata = np.array([stratum_index[str(r[1])] for r in item_rows], dtype=np.int64)
    candidate_index = {c: i for i, c in enumerate(candidates)}
    item_index = {item: j for j, item in enumerate(items)}
    max_repeats = max(len(r[3]) for r in rows)
    scores = np.full((len(candidates), len(items)), np.nan)
    costs = np.full_like(scores, np.nan)
    repeat_scores = np.full((len(candidates), len(items), max_repeats), np.nan)
    for model, scaffold, item, attempt_scores, cost in rows:
        i, j = candidate_index[candidate(model, scaffold)], item_index[item]
        repeat_scores[i, j, : len(attempt_scores)] = attempt_scores
        scores[i, j] = float(np.mean(attempt_scores))
        costs[i, j] = np.nan if cost is None else float(cost)
    dates = dict(
        cursor.execute(
            f"""
            SELECT h.model, epoch(coalesce(any_value(m.release_date), min(h.started_at)::DATE)) / 86400
            FROM {history} h LEFT JOIN models m ON m.model = h.model GROUP BY h.model
            """,
            params,
        ).fetchall()
    )
    released = np.array([np.nan if dates.get(c.model) is None else float(dates[c.model]) for c in candidates])
    return BenchmarkData(
        benchmark=benchmark,
        candidates=candidates,
        items=items,
        strata=strata,
        stratum_names=stratum_names,
        scores=scores,
        costs=costs,
        repeat_scores=repeat_scores,
        has_cost=bool(np.any(~np.isnan(costs))),
        released=released,
    )
