"""Runs as a user manages them from the command line: listed, excluded from the history (simulation and the
frontier leave them out; their rows stay), included again, deleted (only with a yes)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from evalbudget.engine.sim import load_benchmark
from tests.conftest import run_cli


def _models_on_the_frontier(store: Path) -> set[str]:
    result = run_cli("frontier", "--store", str(store), "--benchmark", "swe-bench-verified", "--json")
    assert result.returncode == 0, result.stderr
    return {p["model"] for p in json.loads(result.stdout)["points"]}


def test_a_run_excluded_is_no_history_and_a_run_deleted_is_gone(store_path: Path, tmp_path: Path) -> None:
    conn = duckdb.connect(str(store_path), read_only=True)
    items = [r[0] for r in conn.execute(
        "SELECT item_id FROM items WHERE benchmark = 'swe-bench-verified' ORDER BY 1 LIMIT 30").fetchall()]  # fmt: skip
    conn.close()
    fake = tmp_path / "fake.csv"
    fake.write_text(
        "benchmark,item_id,model,score,cost_usd\n"
        + "".join(f"swe-bench-verified,{i},fake,1,0\n" for i in items)
    )
    assert run_cli("ingest", "--store", str(store_path), str(fake)).returncode == 0
    listed = json.loads(run_cli("runs", "--store", str(store_path), "--json").stdout)
    (run,) = [r for r in listed if r["source"] == "fake.csv"]
    assert run["rollouts"] == 30 and run["spend_usd"] == 0 and not run["excluded"]
    assert "fake" in _models_on_the_frontier(store_path)

    assert run_cli("runs", "exclude", run["run_id"], "--store", str(store_path)).returncode == 0
    assert "fake" not in _models_on_the_frontier(store_path)
    conn = duckdb.connect(str(store_path), read_only=True)
    assert all(c.model != "fake" for c in load_benchmark(conn, "swe-bench-verified").candidates)
    (kept,) = conn.execute("SELECT count(*) FROM rollouts WHERE model = 'fake'").fetchone()  # type: ignore[misc]
    conn.close()
    assert kept == 30  # excluded, not deleted

    assert run_cli("runs", "include", run["run_id"], "--store", str(store_path)).returncode == 0
    assert "fake" in _models_on_the_frontier(store_path)

    unasked = run_cli("runs", "delete", run["run_id"], "--store", str(store_path))
    assert unasked.returncode == 1 and "add --yes" in unasked.stderr  # no terminal to ask at: nothing deleted
    assert run_cli("runs", "delete", run["run_id"], "--yes", "--store", str(store_path)).returncode == 0
    assert "fake" not in _models_on_the_frontier(store_path)
    conn = duckdb.connect(str(store_path), read_only=True)
    (left,) = conn.execute("SELECT count(*) FROM rollouts WHERE model = 'fake'").fetchone()  # type: ignore[misc]
    (items_left,) = conn.execute(
        "SELECT count(*) FROM items WHERE benchmark = 'swe-bench-verified'"
    ).fetchone()  # type: ignore[misc]
    conn.close()
    assert left == 0 and items_left == 500  # the items are the benchmark's, not the run's

    unknown = run_cli("runs", "exclude", "no-such-run", "--store", str(store_path))
    assert (
        unknown.returncode == 1
        and unknown.stderr.strip() == "evalbudget: The store has no run 'no-such-run'."
    )
