"""Seeding a new store from the bundled sample runs (sample_runs/)."""

from __future__ import annotations

import duckdb

from evalbudget.engine.digest import sha256_of
from evalbudget.engine.ingest.common import insert_run, now_utc, run_id_for, store_rows
from evalbudget.engine.ingest.table import read_table, where_in_table
from evalbudget.engine.records import CHECKPOINTS, RUNS
from evalbudget.sample_runs import aggregate_runs_files, checkpoint_files, rollout_files

AGGREGATE_RUN_COLUMNS = (
    "run_id",
    "source",
    "harness",
    "source_path",
    "imported_at",
    "aggregate_only",
    "benchmark",
    "model",
    "scaffold",
    "n_items",
    "accuracy",
    "total_cost_usd",
    "seconds_per_item",
    "started_at",
)


def seed_sample_runs(conn: duckdb.DuckDBPyConnection) -> None:
    """Add every bundled sample file; the caller owns the transaction (or the file being built)."""
    for path in rollout_files():
        sha = sha256_of(path)
        run_id = run_id_for("sample", sha)
        source = read_table(conn, path) or path.stem
        store_rows(conn, run_id, source, where_in_table(path))
        insert_run(
            conn,
            run_id=run_id,
            source=source,
            harness="table",
            source_path=f"sample_runs/{path.name}",
            sha256=sha,
        )
    for path in aggregate_runs_files():
        conn.execute(
            f"""
            {RUNS.insert(AGGREGATE_RUN_COLUMNS)}
            SELECT run_id, source, harness, ?, ?, true, benchmark, model, scaffold, n_items, accuracy,
                   total_cost_usd, seconds_per_item, started_at
            FROM read_parquet(?)
            """,
            [f"sample_runs/{path.name}", now_utc(), str(path)],
        )
    for path in checkpoint_files():
        conn.execute(
            f"""
            {CHECKPOINTS.insert()}
            SELECT DISTINCT model, series, step, final_step, tokens_seen FROM read_parquet(?)
            """,
            [str(path)],
        )
