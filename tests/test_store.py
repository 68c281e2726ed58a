"""The store: seeding from sample_runs/, migrations, schema versions and the one-writer rule."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from evalbudget.engine.errors import StoreError, StoreLockedError
from evalbudget.engine.store import latest_schema_version, migrations, open_store, schema_version
from evalbudget.sample_runs import SAMPLE_DIR
from tests.conftest import ROOT, fingerprint, run_cli


def test_new_store_is_seeded_from_the_sample_runs(tmp_path: Path) -> None:
    store = tmp_path / "new.duckdb"
    result = run_cli("info", "--json", env={"EVALBUDGET_STORE": str(store)})
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    per_item = [b for b in info["by_benchmark"] if b["rollouts"] > 0]
    assert len(per_item) >= 4
    assert info["models"] >= 80
    assert info["rollouts"] >= 60_000
    assert set(info) >= {
        "rollouts",
        "runs",
        "models",
        "benchmarks",
        "items",
        "scaffolds",
        "cost_usd",
        "unpriced_rollouts",
        "by_benchmark",
    }
    manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text())
    swe = next(b for b in info["by_benchmark"] if b["benchmark"] == "swe-bench-verified")
    # The leaderboard's own per-system cost figures, summed by build.py from the source's aggregate table.
    assert swe["cost_usd"] == pytest.approx(
        manifest["datasets"]["swe-bench-verified"]["leaderboard_cost_usd"], abs=1e-6
    )
    assert swe["models"] == 24 and swe["items"] == 500 and swe["rollouts"] == 12_000
    # METR publishes no AI cost: unknown, not zero
    metr = next(b for b in info["by_benchmark"] if b["benchmark"] == "metr-hcast-rebench")
    assert metr["cost_usd"] is None and metr["unpriced_rollouts"] == metr["rollouts"]
    assert not list(tmp_path.glob(".*.building*")), "the build file must not be left behind"


def test_sample_strata_and_repeats(store_path: Path) -> None:
    conn = duckdb.connect(str(store_path), read_only=True)
    strata = dict(
        conn.execute(
            "SELECT benchmark, count(DISTINCT stratum) FROM items WHERE stratum IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    assert strata["swe-bench-verified"] == 12  # repos
    assert strata["alpaca-eval-2"] == 5  # subsets
    assert strata["metr-hcast-rebench"] > 20  # task families
    max_repeat = conn.execute(
        "SELECT max(\"repeat\") FROM rollouts WHERE benchmark = 'metr-hcast-rebench'"
    ).fetchone()
    assert max_repeat is not None and max_repeat[0] >= 7
    excluded = conn.execute(
        "SELECT count(*) FROM rollouts WHERE model = 'Claude 3.7 Sonnet (20250219)'"
    ).fetchone()
    assert excluded == (0,)
    aider = conn.execute(
        "SELECT count(*), count(DISTINCT scaffold) FROM runs WHERE aggregate_only AND benchmark LIKE 'aider-%'"
    ).fetchone()
    assert aider is not None and aider[0] == 324 and aider[1] > 5
    conn.close()


def test_migrations_are_numbered_and_recorded(store_path: Path) -> None:
    numbers = [number for number, _, _ in migrations()]
    assert numbers == list(range(1, len(numbers) + 1))
    with open_store(store_path) as store:
        assert schema_version(store.conn) == latest_schema_version()


def test_a_store_from_a_newer_schema_is_refused(store_path: Path) -> None:
    conn = duckdb.connect(str(store_path))
    conn.execute("INSERT INTO schema_version VALUES (999, '0999_future.sql', now())")
    conn.close()
    before = fingerprint(store_path)
    with pytest.raises(StoreError, match="newer evalbudget"):
        open_store(store_path)
    result = run_cli("--store", str(store_path), "info")
    assert result.returncode == 1
    assert "schema version 999" in result.stderr and "upgrade evalbudget" in result.stderr
    assert result.stderr.count("\n") == 1, "one sentence, no traceback"
    assert fingerprint(store_path) == before


def test_an_older_store_is_migrated_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    conn.close()  # a store at version 0: the tables of migration 1 are missing
    with open_store(path) as store:
        assert schema_version(store.conn) == latest_schema_version()
        assert store.read_only
        assert store.conn.execute("SELECT count(*) FROM rollouts").fetchone() == (0,)


def test_a_version_1_store_keeps_its_rollouts_and_never_keeps_a_bad_cost(tmp_path: Path) -> None:
    """Migration 2 copies every rollout into the stricter table; a NaN or negative cost an older version let in
    becomes unknown, never a number."""
    path = tmp_path / "v1.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    version, name, sql = migrations()[0]
    conn.execute(sql)
    conn.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [version, name])
    conn.execute(
        "INSERT INTO rollouts (run_id, benchmark, item_id, model, score, status, output_tokens, cost_usd, "
        "cost_source) VALUES ('r', 'b', 'i1', 'm', 1, 'ok', 10, 0.5, 'recorded'), "
        "('r', 'b', 'i2', 'm', 0, 'ok', -3, 'NaN', 'recorded'), ('r', 'b', 'i3', 'm', 0, 'ok', 5, -1, 'priced')"
    )
    conn.close()
    with open_store(path) as store:
        assert schema_version(store.conn) == latest_schema_version()
        rows = store.conn.execute(
            "SELECT item_id, output_tokens, cost_usd, cost_source FROM rollouts ORDER BY item_id"
        ).fetchall()
    assert rows == [("i1", 10, 0.5, "recorded"), ("i2", None, None, "unknown"), ("i3", 5, None, "unknown")]


HOLDER = """
import sys
from evalbudget.engine.store import open_store
store = open_store(sys.argv[1], write=True, purpose="evalbudget launch plan.json")
print("holding", flush=True)
sys.stdin.read()
store.close()
"""


def test_a_second_writer_is_told_who_holds_the_store(store_path: Path, tmp_path: Path) -> None:
    table = tmp_path / "extra.csv"
    table.write_text("benchmark,item_id,model,score\nb,1,m,1\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        result = run_cli("ingest", str(table), "--store", str(store_path), timeout=60)
        assert time.monotonic() - started < 60
        assert result.returncode == 1
        message = result.stderr.strip()
        assert "evalbudget launch plan.json" in message and f"PID {holder.pid}" in message
        assert message.count("\n") == 0
        with pytest.raises(StoreLockedError, match="cannot read"):
            open_store(store_path, wait_s=0)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert not store_path.with_name(store_path.name + ".holder").exists()
    # once the holder is gone the same command goes through
    result = run_cli("ingest", str(table), "--store", str(store_path))
    assert result.returncode == 0, result.stderr


def test_readers_share_the_store(store_path: Path) -> None:
    with open_store(store_path) as first, open_store(store_path) as second:
        assert first.read_only and second.read_only
        assert (
            first.conn.execute("SELECT count(*) FROM rollouts").fetchone()
            == second.conn.execute("SELECT count(*) FROM rollouts").fetchone()
        )


def test_the_migrated_schema_is_the_records(store_path: Path) -> None:
    """The rollout, run and item records (engine.records) are the one definition of the columns: the
    migrations must produce exactly those columns, in that order, with those types."""
    from evalbudget.engine.records import CHARGES, CHECKPOINTS, INTERVAL_CHECKS, ITEMS, ROLLOUTS, RUNS

    conn = duckdb.connect(str(store_path), read_only=True)
    try:
        for columns in (ROLLOUTS, RUNS, ITEMS, CHARGES, CHECKPOINTS, INTERVAL_CHECKS):
            described = conn.execute(f"DESCRIBE {columns.table}").fetchall()
            assert [(row[0], row[1]) for row in described] == list(columns.types.items()), columns.table
    finally:
        conn.close()


def test_every_insert_names_its_columns() -> None:
    """An INSERT that names no columns depends on the table's column order: none may be written."""
    import re

    unnamed = re.compile(r"INSERT\s+INTO\s+\w+\s+(SELECT|VALUES)", re.IGNORECASE)
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("engine", "pricing", "tui", "sample_runs")
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if unnamed.search(line)
    ]
    assert offenders == []


def test_what_a_killed_process_left_behind_is_cleaned_up(tmp_path: Path) -> None:
    """A kill -9 while creating a store leaves a half-built file, and one while writing leaves a holder note:
    neither may stay once its process is gone."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(finished.stdout)  # that process has exited
    store = tmp_path / "store.duckdb"
    leftovers = [tmp_path / f".store.duckdb.{dead}.building", tmp_path / f".store.duckdb.{dead}.building.wal"]
    for leftover in leftovers:
        leftover.write_text("half written")
    open_store(store).close()
    assert not any(leftover.exists() for leftover in leftovers)
    holder = store.with_name(store.name + ".holder")
    holder.write_text(
        json.dumps({"pid": dead, "purpose": "evalbudget ingest", "since": "2026-11-30T00:00:00"})
    )
    open_store(store).close()
    assert not holder.exists()


def test_a_corrupt_store_is_one_sentence_and_left_alone(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    store.write_bytes(b"not a DuckDB file\x00\x01" * 64)
    before = store.read_bytes()
    for command in (["info"], ["whatif", "--benchmark", "x"]):
        result = run_cli(*command, "--store", str(store))
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert f"The store {store} could not be opened" in result.stderr and "Traceback" not in result.stderr
    assert store.read_bytes() == before


def test_the_apps_one_connection_reads_beside_its_own_launch(store_path: Path) -> None:
    """SharedStore: readers share one read-only connection (other processes read meanwhile); a launch reopens
    it for writing and readers go on through cursors of that connection, seeing what it commits; afterwards
    it is read-only again and the holder note is gone."""
    import threading

    from evalbudget.engine.store import SharedStore

    shared = SharedStore(store_path)
    with shared.reading() as store:
        (before,) = store.conn.execute("SELECT count(*) FROM rollouts").fetchone()  # type: ignore[misc]
        assert run_cli("info", "--store", str(store_path)).returncode == 0  # another process reads too
    counts: list[int] = []
    with shared.writing(purpose="a test launch") as writer:
        assert (store_path.parent / f"{store_path.name}.holder").exists()
        writer.conn.execute(
            "INSERT INTO rollouts (run_id, benchmark, item_id, model, status, cost_source) "
            "VALUES ('t', 'b', 'i', 'm', 'ok', 'unknown')"
        )

        def read() -> None:
            with shared.reading() as reader:
                counts.append(reader.conn.execute("SELECT count(*) FROM rollouts").fetchone()[0])  # type: ignore[index]

        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        with pytest.raises(StoreError, match="already open for a launch"), shared.writing(purpose="a second"):
            pass
    assert counts == [before + 1] * 4
    assert not (store_path.parent / f"{store_path.name}.holder").exists()
    with shared.reading() as store:
        assert store.conn.execute("SELECT count(*) FROM rollouts").fetchone() == (before + 1,)
        assert run_cli("info", "--store", str(store_path)).returncode == 0
    shared.close()
    with open_store(store_path, write=True):  # nothing of the app's is left holding it
        pass


def test_the_apps_store_lets_other_commands_write_between_its_reads(store_path: Path, tmp_path: Path) -> None:
    from evalbudget.engine.store import SharedStore

    shared = SharedStore(store_path)
    with shared.reading() as store:
        (before,) = store.conn.execute("SELECT count(*) FROM rollouts").fetchone()  # type: ignore[misc]
    table = tmp_path / "more.csv"
    table.write_text("benchmark,item_id,model,score\nb,1,m,1\n")
    assert run_cli("ingest", "--store", str(store_path), str(table)).returncode == 0  # not held by the app
    with shared.reading() as store:
        assert store.conn.execute("SELECT count(*) FROM rollouts").fetchone() == (before + 1,)
    shared.close()


def test_a_store_under_a_file_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    result = run_cli("info", "--store", str(blocker / "stores" / "store.duckdb"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"cannot be created: {blocker} is a file, not a folder." in result.stderr
    assert blocker.read_text() == "a file, not a folder"
