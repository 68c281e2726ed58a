"""Sharing a store (issue 16, part 5): `export --parquet DIR` writes hive-partitioned Parquet that DuckDB
queries in place, and `ingest DIR` reads it into another store, adding only what that store lacks."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from evalbudget.engine.store import migrate
from tests.conftest import fingerprint, run_cli

TABLES = {
    "rollouts": 'run_id, benchmark, item_id, model, scaffold, "repeat", score, status, input_tokens, '
    "output_tokens, cost_usd, cost_source, latency_s, started_at",
    "runs": "run_id, source, harness, aggregate_only, benchmark, model, scaffold, n_items, accuracy, "
    "total_cost_usd, excluded",
    "items": "benchmark, item_id, stratum, input, target, scorer",
    "checkpoints": "model, series, step, final_step, tokens_seen",
    "models": "model, release_date",
}


def empty_store(path: Path) -> Path:
    conn = duckdb.connect(str(path))
    migrate(conn)
    conn.close()
    return path


def contents(store: Path) -> dict[str, list[tuple]]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return {
            t: conn.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall() for t, cols in TABLES.items()
        }
    finally:
        conn.close()


@pytest.fixture
def exported(store_path: Path, tmp_path: Path) -> Path:
    # a release date and an excluded run, so every exported table has something of its own
    dates = tmp_path / "dates.csv"
    dates.write_text("benchmark,item_id,model,score,release_date\nextra,i1,model-x,1,2025-03-01\n")
    assert run_cli("ingest", "--store", str(store_path), str(dates)).returncode == 0
    conn = duckdb.connect(str(store_path))
    conn.execute(
        "UPDATE runs SET excluded = true WHERE run_id = (SELECT min(run_id) FROM runs WHERE NOT aggregate_only)"
    )
    conn.close()
    folder = tmp_path / "shared"
    result = run_cli("export", "--store", str(store_path), "--parquet", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    return folder


def test_the_export_is_hive_partitioned_parquet_duckdb_reads_in_place(
    store_path: Path, exported: Path
) -> None:
    manifest = json.loads((exported / "evalbudget-export.json").read_text())
    stored = contents(store_path)
    assert manifest["rows"] == {
        t: len(stored[t]) for t in ("runs", "rollouts", "items", "checkpoints", "models")
    }
    # one folder per benchmark and model, the model's name URL-encoded
    assert (exported / "rollouts" / "benchmark=swe-bench-verified").is_dir()
    assert any((exported / "rollouts" / "benchmark=alpaca-eval-2").glob("model=*"))
    conn = duckdb.connect()
    by_benchmark = conn.execute(
        f"SELECT benchmark, count(*), count(DISTINCT model) FROM read_parquet('{exported}/rollouts/**/*.parquet', "
        "hive_partitioning = true) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    expected = (
        duckdb.connect(str(store_path), read_only=True)
        .execute("SELECT benchmark, count(*), count(DISTINCT model) FROM rollouts GROUP BY 1 ORDER BY 1")
        .fetchall()
    )
    assert by_benchmark == expected and sum(n for _, n, _ in by_benchmark) == manifest["rows"]["rollouts"]


def test_ingest_of_an_export_rebuilds_the_store_once(
    store_path: Path, exported: Path, tmp_path: Path
) -> None:
    other = empty_store(tmp_path / "other.duckdb")
    first = run_cli("ingest", "--store", str(other), str(exported), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["rollouts_added"] == len(contents(store_path)["rollouts"])
    assert contents(other) == contents(store_path)
    before = fingerprint(other)
    again = json.loads(run_cli("ingest", "--store", str(other), str(exported), "--json").stdout)
    assert again["rollouts_added"] == 0 and again["files"][0]["skipped"] and fingerprint(other) == before
    # into the store it came from: nothing it lacks
    before = fingerprint(store_path)
    home = json.loads(run_cli("ingest", "--store", str(store_path), str(exported), "--json").stdout)
    assert home["rollouts_added"] == 0 and fingerprint(store_path) == before


def test_an_export_inside_a_folder_is_one_source(exported: Path, tmp_path: Path) -> None:
    """A folder holding an export and other logs: the export's Parquet files are not read as tables."""
    other = empty_store(tmp_path / "other.duckdb")
    parent = exported.parent
    (parent / "more.csv").write_text("benchmark,item_id,model,score\nmore,i1,m,1\n")
    result = run_cli("ingest", "--store", str(other), str(parent), "--json")
    assert result.returncode == 0, result.stderr
    formats = sorted(f["format"] for f in json.loads(result.stdout)["files"])
    assert formats == ["export", "table", "table"]  # the export, dates.csv, more.csv


def test_bad_exports_are_one_sentence(store_path: Path, exported: Path, tmp_path: Path) -> None:
    other = empty_store(tmp_path / "other.duckdb")
    before = fingerprint(other)
    refused = run_cli("export", "--store", str(store_path), "--parquet", str(exported))
    assert refused.returncode == 1 and "already exists and is not an empty folder" in refused.stderr
    manifest = exported / "evalbudget-export.json"
    data = json.loads(manifest.read_text())
    cases = [
        ({**data, "schema_version": 999}, "was written by a newer evalbudget"),
        ({**data, "format": "other"}, "is not an evalbudget export manifest"),
        ({**data, "rows": {**data["rows"], "rollouts": data["rows"]["rollouts"] + 1}}, "(a partial copy?)"),
    ]
    for changed, sentence in cases:
        manifest.write_text(json.dumps(changed))
        result = run_cli("ingest", "--store", str(other), str(exported))
        assert result.returncode == 1 and sentence in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    manifest.write_text(json.dumps(data))
    # a rollout no store accepts (a score outside [0, 1]), written into the export by hand
    part = next((exported / "rollouts").rglob("*.parquet"))
    conn = duckdb.connect()
    conn.execute(
        f"COPY (SELECT * REPLACE (2.0 AS score) FROM read_parquet('{part}')) TO '{part}.bad' (FORMAT parquet)"
    )
    conn.close()
    Path(f"{part}.bad").replace(part)
    result = run_cli("ingest", "--store", str(other), str(exported))
    assert result.returncode == 1 and "holds a row the store refuses" in result.stderr, result.stderr
    assert fingerprint(other) == before
