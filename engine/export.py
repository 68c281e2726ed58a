"""A store shared as files: `evalbudget export --parquet DIR` and `evalbudget ingest DIR` of such a folder.

The folder holds the store's results as Parquet that DuckDB (or Spark, Trino) can query in place:

- ``rollouts/benchmark=<b>/model=<m>/*.parquet``: every rollout, hive-partitioned by benchmark and model
  (values URL-encoded in the path: ``EleutherAI%2Fpythia-160m%40step1000``);
- ``items/benchmark=<b>/*.parquet``: the items, with their prompts, targets and scorers where loaded;
- ``runs.parquet``, ``checkpoints.parquet``, ``models.parquet``: the runs (with aggregate-only results), the
  checkpoint series and release dates;
- ``evalbudget-export.json``: what it is, the store's schema version and each table's row count.

A launch's spend bookkeeping (charges, the plans' caps) is the store's own and is not exported. Reading a
folder back adds the runs the store does not hold (a run is known by its id, which ingest derives from its
content) with their rollouts, and the items, checkpoints and dates it lacks: ingesting the same folder twice,
or a store's export into itself, adds nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from evalbudget.engine.errors import InputError
from evalbudget.engine.records import CHECKPOINTS, ITEMS, MODELS, ROLLOUTS, RUNS, Columns, quoted
from evalbudget.engine.store import latest_schema_version, schema_version

if TYPE_CHECKING:  # ingest imports this module: its own import of FileResult waits until it runs
    from evalbudget.engine.ingest.common import FileResult

MANIFEST = "evalbudget-export.json"
FORMAT = "evalbudget-export"
VERSION = 1
PARTITIONS: dict[str, tuple[str, ...]] = {"rollouts": ("benchmark", "model"), "items": ("benchmark",)}
"""Tables written as hive-partitioned folders, by these columns; the others are one file each."""
TABLES: dict[str, Columns] = {
    "runs": RUNS,
    "rollouts": ROLLOUTS,
    "items": ITEMS,
    "checkpoints": CHECKPOINTS,
    "models": MODELS,
}


@dataclass(frozen=True)
class ExportReport:
    folder: str
    rows: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return {"folder": self.folder, "rows": self.rows}


def export_store(conn: duckdb.DuckDBPyConnection, folder: Path) -> ExportReport:
    """Write the store's results under ``folder`` (new, or empty); on any failure nothing is left there."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder}: already exists and is not an empty folder; export into a new one.")
    if not folder.parent.is_dir():
        raise InputError(f"{folder}: the folder {folder.parent} does not exist.")
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    try:
        rows = {}
        for table, columns in TABLES.items():
            rows[table] = _count(conn, table)
            if rows[table] == 0:
                continue  # a partitioned COPY of no rows writes no file: the manifest says 0
            order = ", ".join(quoted(c) for c in (*PARTITIONS.get(table, ()), *columns.names[:3]))
            query = f"SELECT {', '.join(quoted(c) for c in columns.names)} FROM {table} ORDER BY {order}"
            if table in PARTITIONS:
                by = ", ".join(PARTITIONS[table])
                target, options = folder / table, f"FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({by})"
            else:
                target, options = folder / f"{table}.parquet", "FORMAT parquet, COMPRESSION zstd"
            conn.execute(f"COPY ({query}) TO '{_sql_path(target)}' ({options})")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "schema_version": schema_version(conn),
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "partitions": {t: list(p) for t, p in PARTITIONS.items()},
            "rows": rows,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return ExportReport(str(folder), rows)


def is_export(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def _manifest(path: Path) -> dict[str, object]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: is not a readable export manifest ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path}: is not an evalbudget export manifest (its 'format' is not {FORMAT!r}).")
    if manifest.get("version") != VERSION:
        raise InputError(
            f"{path}: is an export of version {manifest.get('version')!r}; this evalbudget reads {VERSION}."
        )
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or schema > latest_schema_version():
        raise InputError(
            f"{path}: was written by a newer evalbudget (store schema {schema}); this one knows up to "
            f"{latest_schema_version()}."
        )
    rows = manifest.get("rows")
    if not isinstance(rows, dict):
        raise InputError(f"{path}: names no row counts ('rows').")
    return manifest


def import_export(conn: duckdb.DuckDBPyConnection, manifest_path: Path) -> FileResult:
    """Add what the exported folder holds and the store lacks (the caller owns the transaction)."""
    from evalbudget.engine.ingest.common import FileResult

    manifest = _manifest(manifest_path)
    folder = manifest_path.parent
    rows: dict[str, int] = manifest["rows"]  # type: ignore[assignment]
    sources = {t: _source(folder, t) for t in TABLES if int(rows.get(t, 0) or 0) > 0}
    for table, source in sources.items():
        if not _exists(folder, table):
            raise InputError(
                f"{folder}: the manifest counts {rows[table]:,} {table} but the folder has none."
            )
        found = conn.execute(f"SELECT count(*) FROM {source}").fetchone()
        if found is None or found[0] != rows[table]:
            raise InputError(
                f"{folder}: holds {found[0] if found else 0:,} {table} where its manifest counts {rows[table]:,} "
                "(a partial copy?)."
            )
    result = FileResult(str(folder), "export", None)
    if "runs" not in sources:
        result.skipped = True
        return result
    runs = _shared_columns(conn, sources["runs"], RUNS)
    try:
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _new_runs AS
            SELECT * FROM {sources["runs"]} r
            WHERE r.run_id NOT IN (SELECT run_id FROM runs)
              AND (r.content_sha256 IS NULL
                   OR r.content_sha256 NOT IN (SELECT content_sha256 FROM runs WHERE content_sha256 IS NOT NULL))
            """
        )
        conn.execute(f"{RUNS.insert(runs)} SELECT {', '.join(quoted(c) for c in runs)} FROM _new_runs")
        added = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE aggregate_only) FROM _new_runs"
        ).fetchone()
        result.aggregate_runs = int(added[1]) if added else 0
        if "rollouts" in sources:
            columns = _shared_columns(conn, sources["rollouts"], ROLLOUTS)
            conn.execute(
                f"{ROLLOUTS.insert(columns)} SELECT {', '.join(quoted(c) for c in columns)} "
                f"FROM {sources['rollouts']} WHERE run_id IN (SELECT run_id FROM _new_runs)"
            )
            counted = conn.execute(
                "SELECT count(*), coalesce(list(DISTINCT benchmark ORDER BY benchmark), []), "
                "coalesce(list(DISTINCT model ORDER BY model), []) "
                f"FROM {sources['rollouts']} WHERE run_id IN (SELECT run_id FROM _new_runs)"
            ).fetchone()
            if counted:
                result.rollouts, result.benchmarks, result.models = int(counted[0]), counted[1], counted[2]
        before = _count(conn, "items")
        for table, key in (
            ("items", "(benchmark, item_id)"),
            ("checkpoints", "(model)"),
            ("models", "(model)"),
        ):
            if table in sources:
                columns = _shared_columns(conn, sources[table], TABLES[table])
                conn.execute(
                    f"{TABLES[table].insert(columns)} SELECT {', '.join(quoted(c) for c in columns)} "
                    f"FROM {sources[table]} ON CONFLICT {key} DO NOTHING"
                )
        result.items = _count(conn, "items") - before
    except duckdb.ConstraintException as exc:
        raise InputError(f"{folder}: holds a row the store refuses ({_first_line(exc)}).") from None
    except duckdb.Error as exc:
        raise InputError(
            f"{folder}: could not be read as an evalbudget export ({_first_line(exc)})."
        ) from None
    finally:
        conn.execute("DROP TABLE IF EXISTS _new_runs")
    result.run_id = None
    result.skipped = not (added and added[0]) and result.items == 0
    return result


def _count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    found = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(found[0]) if found else 0


def _source(folder: Path, table: str) -> str:
    """A table of the export as DuckDB reads it (partition columns as text: a model named 123 stays '123')."""
    if table in PARTITIONS:
        glob = _sql_path(folder / table) + "/**/*.parquet"
        types = "{" + ", ".join(f"'{c}': VARCHAR" for c in PARTITIONS[table]) + "}"
        return f"read_parquet('{glob}', hive_partitioning = true, hive_types = {types})"
    return f"read_parquet('{_sql_path(folder / f'{table}.parquet')}')"


def _exists(folder: Path, table: str) -> bool:
    if table in PARTITIONS:
        return any((folder / table).rglob("*.parquet"))
    return (folder / f"{table}.parquet").is_file()


def _shared_columns(conn: duckdb.DuckDBPyConnection, source: str, columns: Columns) -> list[str]:
    """The store's columns the export has (an export from an older schema lacks the newer ones)."""
    have = {str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    return [c for c in columns.names if c in have]


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
