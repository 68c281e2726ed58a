"""The project's own long table format (CSV, JSONL or Parquet), read and checked by DuckDB itself.

Columns: source, benchmark, item_id, model, scaffold, repeat, score, status, input_tokens,
cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, latency_s, gpu_seconds, gpu_type,
api_calls, started_at; only benchmark, item_id, model and score are required. A ``stratum`` column (or the
one named by --stratum) fills the items' stratum; other columns are ignored.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import STATUSES, add_items, iter_jsonl
from evalbudget.engine.records import INGESTED_ROLLOUT_COLUMNS, ROLLOUTS

REQUIRED = ("benchmark", "item_id", "model", "score")
_NUMERIC = {
    name: kind for name, kind in INGESTED_ROLLOUT_COLUMNS.items() if kind in ("INTEGER", "BIGINT", "DOUBLE")
}
_NON_NEGATIVE = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_s",
    "gpu_seconds",
    "api_calls",
    "repeat",
)


def table_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    raise InputError(f"{path}: a table must be .csv, .tsv, .jsonl or .parquet.")


def _stage(conn: duckdb.DuckDBPyConnection, path: Path, kind: str) -> None:
    """Load the file into temp table _staged with a 1-based _row in file order."""
    reader = {
        "csv": "read_csv(?, all_varchar=true, header=true)",
        "jsonl": "read_json(?, format='newline_delimited')",
        "parquet": "read_parquet(?)",
    }[kind]
    try:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _staged AS SELECT row_number() OVER () AS _row, * FROM {reader}",
            [str(path)],
        )
    except duckdb.Error as exc:
        if kind == "jsonl":
            for _ in iter_jsonl(path):  # raises naming the first bad line
                pass
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: could not be read as {kind.upper()} ({message}).") from None


def _where(path: Path, kind: str, row: int) -> str:
    if kind == "csv":
        return f"{path}, line {row + 1}"  # line 1 is the header
    if kind == "jsonl":
        return f"{path}, line {row}"
    return f"{path}, row {row}"


def _text(column: str) -> str:
    return f"nullif(trim(CAST(\"{column}\" AS VARCHAR)), '')"


def _validate(conn: duckdb.DuckDBPyConnection, path: Path, kind: str, columns: set[str]) -> None:
    """Refuse the file at its first bad line, checking every rule in one scan of the staged rows."""
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputError(
            f"{path}: missing required column '{missing[0]}' (a table needs {', '.join(REQUIRED)})."
        )
    # (condition that marks a bad row, the column to quote, the message); on one row the first rule wins
    rules: list[tuple[str, str, str]] = [
        (f"{_text(c)} IS NULL", c, f"column '{c}' is empty") for c in ("benchmark", "item_id", "model")
    ]
    for column, kind_sql in _NUMERIC.items():
        if column in columns:
            rules.append(
                (
                    f"{_text(column)} IS NOT NULL AND TRY_CAST({_text(column)} AS {kind_sql}) IS NULL",
                    column,
                    f"column '{column}' is not a number ({{value!r}})",
                )
            )
    score = f"TRY_CAST({_text('score')} AS DOUBLE)"
    rules.append(
        (f"{score} NOT BETWEEN 0 AND 1 OR isnan({score})", "score", "score {value} is outside [0, 1]")
    )
    for column in _NON_NEGATIVE:
        if column in columns:
            number = f"TRY_CAST({_text(column)} AS DOUBLE)"
            rules.append((f"{number} < 0", column, f"column '{column}' is negative ({{value}})"))
            # money and tokens are finite: a NaN or infinite cost would switch the spend cap off
            rules.append(
                (f"NOT isfinite({number})", column, f"column '{column}' is not a finite number ({{value}})")
            )
    if "status" in columns:
        allowed = ", ".join(f"'{s}'" for s in STATUSES)
        rules.append(
            (
                f"lower({_text('status')}) NOT IN ({allowed})",
                "status",
                f"status {{value!r}} is not one of {', '.join(STATUSES)}",
            )
        )
    if "started_at" in columns:
        rules.append(
            (
                f"{_text('started_at')} IS NOT NULL AND TRY_CAST({_text('started_at')} AS TIMESTAMP) IS NULL",
                "started_at",
                "started_at {value!r} is not a timestamp",
            )
        )
    firsts = conn.execute(
        "SELECT " + ", ".join(f"min(_row) FILTER (WHERE {cond})" for cond, _, _ in rules) + " FROM _staged"
    ).fetchone()
    bad_rows = [(row, index) for index, row in enumerate(firsts or ()) if row is not None]
    if not bad_rows:
        return
    row, index = min(bad_rows)
    _, column, message = rules[index]
    shown = conn.execute(f"SELECT {_text(column)} FROM _staged WHERE _row = ?", [row]).fetchone()
    raise InputError(f"{_where(path, kind, row)}: {message.format(value=shown[0] if shown else None)}.")


def ingest_table(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    run_id: str,
    *,
    stratum_column: str | None = None,
) -> tuple[int, int, str | None]:
    """Check and insert one table file; returns (rollouts, new items, the file's single source or None)."""
    kind = table_kind(path)
    _stage(conn, path, kind)
    try:
        columns = {r[0] for r in conn.execute("DESCRIBE _staged").fetchall()} - {"_row"}
        _validate(conn, path, kind, columns)
        if stratum_column is not None and stratum_column not in columns:
            raise InputError(f"{path}: has no column '{stratum_column}' to use as the stratum (--stratum).")
        stratum = stratum_column or ("stratum" if "stratum" in columns else None)

        def value(column: str) -> str:
            if column not in columns:
                return f"CAST(NULL AS {INGESTED_ROLLOUT_COLUMNS[column]})"
            return f"CAST({_text(column)} AS {INGESTED_ROLLOUT_COLUMNS[column]})"

        score = value("score")
        status = f"lower({_text('status')})" if "status" in columns else "NULL"
        cost = value("cost_usd")
        conn.execute(
            f"""
            {ROLLOUTS.insert()}
            SELECT ?, {value("benchmark")}, {value("item_id")}, {value("model")}, coalesce({value("scaffold")}, ''),
                coalesce({value("repeat")}, 0), {score},
                coalesce({status}, CASE WHEN {score} IS NULL THEN 'error' ELSE 'ok' END),
                {value("input_tokens")}, {value("cached_input_tokens")}, {value("output_tokens")},
                {value("reasoning_tokens")}, {cost},
                CASE WHEN {cost} IS NULL THEN 'unknown' ELSE 'recorded' END,
                {value("latency_s")}, {value("gpu_seconds")}, {value("gpu_type")}, {value("api_calls")},
                {value("started_at")}
            FROM _staged ORDER BY _row
            """,
            [run_id],
        )
        rollouts = conn.execute("SELECT count(*) FROM _staged").fetchone()[0]  # type: ignore[index]
        stratum_sql = _text(stratum) if stratum else "NULL"
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _items AS SELECT {value('benchmark')} AS benchmark, "
            f"{value('item_id')} AS item_id, {stratum_sql} AS stratum FROM _staged"
        )
        new_items = add_items(conn, "_items")
        single_source = None
        if "source" in columns:
            sources = conn.execute(f"SELECT DISTINCT {_text('source')} FROM _staged LIMIT 2").fetchall()
            if len(sources) == 1 and sources[0][0]:
                single_source = str(sources[0][0])
        return int(rollouts), new_items, single_source
    finally:
        conn.execute("DROP TABLE IF EXISTS _staged")
        conn.execute("DROP TABLE IF EXISTS _items")
