"""What the store holds, at a glance: the figures behind `evalbudget info` and the app's Explore mode."""

from __future__ import annotations

from typing import Any

import duckdb
from pydantic import BaseModel


class BenchmarkSummary(BaseModel):
    benchmark: str
    models: int
    items: int
    rollouts: int
    cost_usd: float | None
    """Sum of known rollout costs (recorded or priced); None when no rollout's cost is known."""
    unpriced_rollouts: int
    aggregate_runs: int
    """Runs that publish only totals (no per-item rows)."""
    aggregate_cost_usd: float | None = None
    """Those runs' totals (recorded, or priced from their usage); None when none has a cost."""


class CheckpointSeries(BaseModel):
    """A training run whose checkpoints the store holds results of."""

    series: str
    checkpoints: int
    benchmarks: int
    """Benchmarks (tasks) with a result for at least one of its checkpoints."""
    first_step: int
    last_step: int


class StoreInfo(BaseModel):
    store: str
    schema_version: int
    rollouts: int
    runs: int
    models: int
    benchmarks: int
    items: int
    scaffolds: int
    cost_usd: float
    """Known cost of all rollouts; unknown costs are counted in unpriced_rollouts, never as $0."""
    unpriced_rollouts: int
    aggregate_runs: int
    aggregate_cost_usd: float
    """Totals of aggregate-only runs (recorded, or priced from their usage), kept apart from per-rollout cost."""
    by_benchmark: list[BenchmarkSummary]
    checkpoint_series: list[CheckpointSeries] = []


def store_info(conn: duckdb.DuckDBPyConnection, store: str, schema_version: int) -> StoreInfo:
    cursor = conn.cursor()
    totals = cursor.execute(
        """
        WITH per_item AS (
            SELECT benchmark, model, scaffold FROM rollouts
            UNION ALL SELECT benchmark, model, scaffold FROM runs WHERE aggregate_only
        )
        SELECT
            (SELECT count(*) FROM rollouts),
            (SELECT count(*) FROM runs),
            (SELECT count(DISTINCT model) FROM per_item),
            (SELECT count(DISTINCT benchmark) FROM per_item),
            (SELECT count(*) FROM items),
            (SELECT count(DISTINCT scaffold) FROM per_item WHERE scaffold <> ''),
            (SELECT coalesce(sum(cost_usd), 0) FROM rollouts),
            (SELECT count(*) FROM rollouts WHERE cost_usd IS NULL),
            (SELECT count(*) FROM runs WHERE aggregate_only),
            (SELECT coalesce(sum(total_cost_usd), 0) FROM runs WHERE aggregate_only)
        """
    ).fetchone()
    assert totals is not None
    rows = cursor.execute(
        """
        WITH r AS (
            SELECT benchmark, count(DISTINCT model) AS models, count(*) AS rollouts,
                   sum(cost_usd) AS cost_usd, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
            FROM rollouts GROUP BY benchmark
        ), a AS (
            SELECT benchmark, count(DISTINCT model) AS models, count(*) AS runs, sum(total_cost_usd) AS cost_usd
            FROM runs WHERE aggregate_only GROUP BY benchmark
        ), i AS (SELECT benchmark, count(*) AS items FROM items GROUP BY benchmark)
        SELECT coalesce(r.benchmark, a.benchmark) AS benchmark, coalesce(r.models, a.models),
               coalesce(i.items, 0), coalesce(r.rollouts, 0), r.cost_usd, coalesce(r.unpriced, 0),
               coalesce(a.runs, 0), a.cost_usd
        FROM r FULL OUTER JOIN a ON r.benchmark = a.benchmark
        LEFT JOIN i ON i.benchmark = coalesce(r.benchmark, a.benchmark)
        ORDER BY 4 DESC, 1
        """
    ).fetchall()
    series = cursor.execute(
        """
        SELECT c.series, count(DISTINCT c.model), count(DISTINCT r.benchmark), min(c.step), max(c.step)
        FROM checkpoints c LEFT JOIN (
            SELECT model, benchmark FROM rollouts UNION SELECT model, benchmark FROM runs WHERE aggregate_only
        ) r ON r.model = c.model
        GROUP BY c.series ORDER BY c.series
        """
    ).fetchall()
    fields: list[Any] = list(totals)
    return StoreInfo(
        checkpoint_series=[
            CheckpointSeries(series=n, checkpoints=c, benchmarks=b, first_step=lo, last_step=hi)
            for n, c, b, lo, hi in series
        ],
        store=store,
        schema_version=schema_version,
        rollouts=fields[0],
        runs=fields[1],
        models=fields[2],
        benchmarks=fields[3],
        items=fields[4],
        scaffolds=fields[5],
        cost_usd=float(fields[6]),
        unpriced_rollouts=fields[7],
        aggregate_runs=fields[8],
        aggregate_cost_usd=float(fields[9]),
        by_benchmark=[
            BenchmarkSummary(
                benchmark=b,
                models=m,
                items=i,
                rollouts=r,
                cost_usd=None if c is None else float(c),
                unpriced_rollouts=u,
                aggregate_runs=a,
                aggregate_cost_usd=None if ac is None else float(ac),
            )
            for b, m, i, r, c, u, a, ac in rows
        ],
    )


def benchmark_names(
    conn: duckdb.DuckDBPyConnection, *, aggregate: bool = False, items_only: bool = False
) -> list[str]:
    """Benchmarks with per-rollout results; with ``aggregate`` also those with aggregate-only runs that record a
    cost (Aider, HAL: a frontier needs one; checkpoint results such as Pythia's record none), with
    ``items_only`` also those with items loaded but no results yet."""
    rows = conn.execute(
        """
        SELECT DISTINCT benchmark FROM rollouts
        UNION SELECT DISTINCT benchmark FROM runs
        WHERE $aggregate AND aggregate_only AND benchmark IS NOT NULL AND total_cost_usd IS NOT NULL
        UNION SELECT DISTINCT benchmark FROM items WHERE $items_only AND input IS NOT NULL
        ORDER BY 1
        """,
        {"aggregate": aggregate, "items_only": items_only},
    ).fetchall()
    return [str(r[0]) for r in rows]
