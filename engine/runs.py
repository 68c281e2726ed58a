"""The store's runs as a user manages them: every ingested file and every launch, with where it came from, its
plan, when, what it holds and what it spent; a run can be left out of the history (its rows stay) or deleted.

Leaving a run out is how a test launch against a fake endpoint stops being a point on the frontier or a reason
for a plan (records.NOT_HISTORY); deleting removes its rollouts and its row, never the items, which other runs
share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from evalbudget.engine.errors import InputError


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    source: str
    harness: str
    plan_id: str | None
    imported_at: datetime | None
    benchmarks: list[str]
    rollouts: int
    spend_usd: float | None
    """Known cost of its rollouts (an aggregate-only run: its recorded total); None when none is known."""
    excluded: bool


def list_runs(conn: duckdb.DuckDBPyConnection) -> list[RunSummary]:
    """Every run, newest first."""
    rows = conn.execute(
        """
        SELECT r.run_id, r.source, r.harness, r.plan_id, r.imported_at,
               coalesce(list_sort(list(DISTINCT o.benchmark) FILTER (WHERE o.benchmark IS NOT NULL)), []),
               count(o.run_id), CASE WHEN count(o.cost_usd) > 0 THEN sum(o.cost_usd) END,
               r.total_cost_usd, r.benchmark, coalesce(r.excluded, false)
        FROM runs r LEFT JOIN rollouts o USING (run_id)
        GROUP BY ALL ORDER BY r.imported_at DESC NULLS LAST, r.run_id
        """
    ).fetchall()
    return [
        RunSummary(
            run_id=str(run_id),
            source=str(source),
            harness=str(harness),
            plan_id=plan_id,
            imported_at=imported_at,
            benchmarks=list(benchmarks) or ([str(aggregate_benchmark)] if aggregate_benchmark else []),
            rollouts=int(rollouts),
            spend_usd=float(spent) if spent is not None else (float(total) if total is not None else None),
            excluded=bool(excluded),
        )
        for (
            run_id,
            source,
            harness,
            plan_id,
            imported_at,
            benchmarks,
            rollouts,
            spent,
            total,
            aggregate_benchmark,
            excluded,
        ) in rows
    ]


def set_excluded(conn: duckdb.DuckDBPyConnection, run_id: str, excluded: bool) -> None:
    """Leave the run out of the history (or take it back in); its rows stay in the store."""
    _check(conn, run_id)
    conn.execute("UPDATE runs SET excluded = ? WHERE run_id = ?", [excluded, run_id])


def delete_run(conn: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Delete the run and its rollouts (and a launch's worst-case charges) in one transaction; returns how
    many rollouts went. The items stay: other runs share them."""
    _check(conn, run_id)
    conn.execute("BEGIN TRANSACTION")
    try:
        row = conn.execute("SELECT count(*) FROM rollouts WHERE run_id = ?", [run_id]).fetchone()
        conn.execute("DELETE FROM rollouts WHERE run_id = ?", [run_id])
        conn.execute("DELETE FROM charges WHERE run_id = ?", [run_id])
        conn.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(row[0]) if row else 0


def _check(conn: duckdb.DuckDBPyConnection, run_id: str) -> None:
    if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is None:
        raise InputError(f"The store has no run {run_id!r}.")
