"""The project's own long table format (CSV, JSONL or Parquet), read and checked by DuckDB itself.

Columns: source, benchmark, item_id, model, scaffold, repeat, score, status, input_tokens,
cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, latency_s, gpu_seconds, gpu_type,
api_calls, started_at; only benchmark, item_id, model and score are required. A ``stratum`` column (or the
one named by --stratum) fills the items' stratum; other columns are ignored.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import duckdb

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import STAGED_COLUMNS, STATUSES, iter_jsonl
from evalbudget.engine.records import INGESTED_ROLLOUT_COLUMNS, quoted

REQUIRED = ("benchmark", "item_id", "model", "score")
ROW = "(rowid - (SELECT min(rowid) FROM _staged) + 1)"
"""A staged row's number in its file (1-based): DuckDB numbers a new table's rows in insertion order (inside a
transaction from a large base, hence the offset)."""
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
    """Load the file into temp table _staged, in file order (row n of the file is ROW): DuckDB keeps insertion
    order, which is cheaper than numbering the rows with a window over the whole file."""
    reader = {
        # the delimiter is named, not sniffed: a cut-short last line must not turn the header into one column
        "csv": f"read_csv(?, all_varchar=true, header=true, delim='{_delimiter(path)}')",
        "jsonl": "read_json(?, format='newline_delimited')",
        "parquet": "read_parquet(?)",
    }[kind]
    try:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _staged AS SELECT * FROM {reader}",
            [str(path)],
        )
    except duckdb.Error as exc:
        if kind == "jsonl":
            for _ in iter_jsonl(path):  # raises naming the first bad line
                pass
        if kind == "csv":
            _check_csv_lines(path)  # raises naming a line whose field count differs from the header's
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: could not be read as {kind.upper()} ({message}).") from None


def _delimiter(path: Path) -> str:
    return "\\t" if path.suffix.lower() == ".tsv" else ","


def _check_csv_lines(path: Path) -> None:
    """Name the first record whose field count differs from the header's (a file cut short, say)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            header = next(reader, [])
            for record in reader:
                if record and len(record) != len(header):
                    raise InputError(
                        f"{path}, line {reader.line_num}: {len(record)} fields where the header names "
                        f"{len(header)} (is the file cut short?)."
                    )
    except (UnicodeDecodeError, csv.Error):
        return  # the caller's message names DuckDB's reason


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
            if kind_sql != "DOUBLE":  # counts: DuckDB's cast would round 12.7 to 13 without a word
                number = f"TRY_CAST({_text(column)} AS DOUBLE)"
                rules.append(
                    (
                        f"{number} <> floor({number})",
                        column,
                        f"column '{column}' is not a whole number ({{value}})",
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
        "SELECT " + ", ".join(f"min({ROW}) FILTER (WHERE {cond})" for cond, _, _ in rules) + " FROM _staged"
    ).fetchone()
    bad_rows = [(row, index) for index, row in enumerate(firsts or ()) if row is not None]
    if not bad_rows:
        return
    row, index = min(bad_rows)
    _, column, message = rules[index]
    shown = conn.execute(f"SELECT {_text(column)} FROM _staged WHERE {ROW} = ?", [row]).fetchone()
    raise InputError(f"{_where(path, kind, row)}: {message.format(value=shown[0] if shown else None)}.")


def read_table(
    conn: duckdb.DuckDBPyConnection, path: Path, *, stratum_column: str | None = None
) -> str | None:
    """Check one table file and stage its rows as ``_rows`` for store_rows; returns the file's single source
    (its ``source`` column, when every row names the same one) or None."""
    kind = table_kind(path)
    _stage(conn, path, kind)
    try:
        columns = {r[0] for r in conn.execute("DESCRIBE _staged").fetchall()}
        _validate(conn, path, kind, columns)
        if stratum_column is not None and stratum_column not in columns:
            raise InputError(f"{path}: has no column '{stratum_column}' to use as the stratum (--stratum).")
        stratum = stratum_column or ("stratum" if "stratum" in columns else None)

        def value(column: str) -> str:
            if column not in columns:
                return f"CAST(NULL AS {STAGED_COLUMNS[column]})"
            return f"CAST({_text(column)} AS {STAGED_COLUMNS[column]})"

        defaults = {
            "scaffold": f"coalesce({value('scaffold')}, '')",
            "repeat": f"coalesce({value('repeat')}, 0)",
            "status": (
                f"coalesce({'lower(' + _text('status') + ')' if 'status' in columns else 'NULL'}, "
                f"CASE WHEN {value('score')} IS NULL THEN 'error' ELSE 'ok' END)"
            ),
            "stratum": _text(stratum) if stratum else "CAST(NULL AS VARCHAR)",
        }
        selected = ", ".join(
            f"{defaults.get(name, value(name))} AS {quoted(name)}" for name in STAGED_COLUMNS
        )
        conn.execute(f"CREATE OR REPLACE TEMP TABLE _rows AS SELECT {ROW} AS _row, {selected} FROM _staged")
        if "source" in columns:
            sources = conn.execute(f"SELECT DISTINCT {_text('source')} FROM _staged LIMIT 2").fetchall()
            if len(sources) == 1 and sources[0][0]:
                return str(sources[0][0])
        return None
    finally:
        conn.execute("DROP TABLE IF EXISTS _staged")


def where_in_table(path: Path) -> Callable[[int], str]:
    """Names row ``n`` of a table file (its line, or its row in a Parquet file)."""
    kind = table_kind(path)
    return lambda row: _where(path, kind, row)
