"""Ingest speed of the table format: 1,000,000 rows through `evalbudget ingest`, against a baseline of
pandas read_csv + a DataFrame insert into DuckDB of the same file, both measured in this run.

    .venv/bin/python benchmarks/ingest_table.py [--rows N]

Prints two ratios. The whole command (a new Python process: interpreter start, imports, opening the store,
hashing, reading, checking, inserting, closing) is issue 11's measure. The baseline runs inside this process
with pandas and DuckDB already imported and its store already open, so the same ingest is also timed that way
(`ingest_files` on an open store, closing included): the work both do, like for like. Not a test: these
machines are noisy, so each is timed --repeats times (each into a new store) and the best time is kept,
as timeit does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from evalbudget.engine.ingest import ingest_files
from evalbudget.engine.store import migrate, open_store


def write_table(path: Path, rows: int) -> None:
    duckdb.execute(
        f"""
        COPY (
            -- every (benchmark, item, model, scaffold, repeat) once: a rollout's identity (ingest refuses two
            -- different results for one attempt)
            SELECT 'bench' AS source, 'bench-' || (i // 40 % 7) AS benchmark, 'item-' || (i // 40) AS item_id,
                   'model-' || (i % 40) AS model, CASE WHEN i % 40 < 20 THEN 'react' ELSE '' END AS scaffold,
                   0 AS "repeat", ((i * 7919) % 1000) / 1000.0 AS score, 'ok' AS status,
                   1000 + i % 977 AS input_tokens, 0 AS cached_input_tokens, 50 + i % 311 AS output_tokens,
                   0 AS reasoning_tokens, round((i % 1000) / 10000.0, 6) AS cost_usd, (i % 60) / 2.0 AS latency_s,
                   'repo-' || (i % 12) AS stratum
            FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )


def time_evalbudget(csv: Path, store: Path) -> float:
    subprocess.run(
        [sys.executable, "-m", "evalbudget.engine", "--store", str(store), "info"],
        check=True,
        capture_output=True,
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "evalbudget.engine", "--store", str(store), "ingest", str(csv), "--json"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def time_in_process(csv: Path, store: Path) -> float:
    opened = open_store(store, write=True)
    started = time.perf_counter()
    with opened:
        ingest_files(opened.conn, [csv])
    return time.perf_counter() - started


def time_pandas(csv: Path, store: Path) -> float:
    conn = duckdb.connect(str(store))
    migrate(conn)
    started = time.perf_counter()
    frame = pd.read_csv(csv)
    frame["run_id"] = "pandas"
    frame["cost_source"] = "recorded"
    conn.register("frame", frame)
    conn.execute(
        """
        INSERT INTO rollouts (run_id, benchmark, item_id, model, scaffold, "repeat", score, status, input_tokens,
            cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, cost_source, latency_s)
        SELECT run_id, benchmark, item_id, model, coalesce(scaffold, ''), "repeat", score, status, input_tokens,
            cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, cost_source, latency_s FROM frame
        """
    )
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="times each is run; the best is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "rollouts.csv"
        write_table(csv, args.rows)
        ours, inside, baseline = (
            min(measure(csv, folder / f"{name}-{n}.duckdb") for n in range(args.repeats))
            for name, measure in (
                ("ours", time_evalbudget),
                ("inside", time_in_process),
                ("pandas", time_pandas),
            )
        )
    print(
        f"rows: {args.rows:,}; best of {args.repeats}; {os.cpu_count()} cores (DuckDB's side uses them all)"
    )
    print(f"evalbudget ingest, the whole command (checks included):  {ours:.2f} s")
    print(f"evalbudget ingest_files on an open store (checks incl.):  {inside:.2f} s")
    print(f"pandas read_csv + DataFrame insert (no checks):           {baseline:.2f} s")
    print(f"ratio baseline / whole command: {baseline / ours:.2f}x  (target: 1.00x or more, issue 11)")
    print(f"ratio baseline / in process:    {baseline / inside:.2f}x  (like for like)")


if __name__ == "__main__":
    main()
