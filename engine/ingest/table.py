"""The project's own long table format (CSV, JSONL or Parquet), read and checked by DuckDB itself.

Columns: source, benchmark, item_id, model, scaffold, repeat, score, status, input_tokens,
cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, latency_s, gpu_seconds, gpu_type,
api_calls, started_at; only benchmark, item_id, model and score are required. A ``stratum`` column (or the
one named by --stratum) fills the items' stratum, and a ``release_date`` column the date each model came out
(one per model; the ``newest`` split holds out the newest); other columns are ignored.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import STAGED_COLUMNS, STATUSES, drop_staging, iter_jsonl
from evalbudget.engine.records import INGESTED_ROLLOUT_COLUMNS, quoted, struct_literal

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
    "cache_write_tokens",
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


def _stage(
    conn: duckdb.DuckDBPyConnection, path: Path, kind: str, *, typed: bool = True, ordered: bool = True
) -> bool:
    """Load the file into temp table _staged, in file order (row n of the file is ROW): DuckDB keeps insertion
    order, which is cheaper than numbering the rows with a window over the whole file.

    A CSV is first read typed, the fast path (returns True), and unless ``ordered`` in whatever order DuckDB's
    threads finish, which saves a third of the read: ROW then names no line, so any message is made after
    reading the file again in order. A file with any line DuckDB cannot read typed is read again as text,
    where each rule names its line."""
    header = _csv_header(path) if kind == "csv" else None
    if typed and header and _stage_typed_csv(conn, path, header, ordered=ordered):
        return True
    listed = ", ".join("'" + _sql_text(n) + "'" for n in header or ())
    names = f", names=[{listed}]" if header else ""
    reader = {
        # the delimiter is named, not sniffed: a cut-short last line must not turn the header into one column
        "csv": f"read_csv(?, all_varchar=true, header=true, delim='{_delimiter(path)}'{names})",
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
    return False


def _csv_header(path: Path) -> list[str] | None:
    """The CSV's column names, trimmed (`benchmark, item_id` is a header people write); None where they are
    not distinct names, which DuckDB's own reading then reports."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), [])
    except (UnicodeDecodeError, csv.Error):
        return None
    names = [name.strip() for name in header]
    if not names or len(set(names)) != len(names) or not all(names):
        return None
    return names


def _stage_typed_csv(
    conn: duckdb.DuckDBPyConnection, path: Path, header: list[str], *, ordered: bool
) -> bool:
    """Stage a CSV with its numeric columns read as numbers (DOUBLE, so a fractional count is still seen and
    refused) by DuckDB's parallel reader. False when any line does not read that way (a value that is not a
    number, a short line, ...): such lines are set aside by DuckDB rather than raised, because an error would
    end the ingest's transaction."""
    types = {name: "DOUBLE" if name in _NUMERIC else "VARCHAR" for name in header}
    columns = struct_literal(types)
    if not ordered:
        conn.execute("SET preserve_insertion_order = false")
    try:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _staged AS SELECT * FROM read_csv(?, header=true, auto_detect=false, "
            f"delim='{_delimiter(path)}', quote='\"', escape='\"', columns={columns}, store_rejects=true, "
            "rejects_table='_rejects', rejects_scan='_reject_scans')",
            [str(path)],
        )
    finally:
        if not ordered:
            conn.execute("RESET preserve_insertion_order")
    rejected = conn.execute("SELECT count(*) FROM _rejects").fetchone()
    conn.execute("DROP TABLE IF EXISTS _rejects")
    conn.execute("DROP TABLE IF EXISTS _reject_scans")
    return not (rejected and rejected[0])


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


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


_NUMBER_TYPES = (
    "DOUBLE",
    "FLOAT",
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
)
_LARGEST = {"INTEGER": 2**31 - 1, "BIGINT": 2**63 - 1}
_TEXT_COLUMNS = ("benchmark", "item_id", "model", "scaffold", "status", "source", "gpu_type", "started_at")


@dataclass(frozen=True)
class _Staged:
    """The staged columns' DuckDB types, and the text columns that hold no padded or empty value (read as they
    are, which spares a trim of every value of every row)."""

    types: dict[str, str]
    clean: frozenset[str]

    def text(self, column: str) -> str:
        if column in self.clean:
            return quoted(column)
        return f"nullif(trim(CAST({quoted(column)} AS VARCHAR)), '')"

    def number(self, column: str) -> str:
        """The column as a DOUBLE (NULL where its text is not a number)."""
        if self.types.get(column) in _NUMBER_TYPES:
            return f"CAST({quoted(column)} AS DOUBLE)"
        return f"TRY_CAST({self.text(column)} AS DOUBLE)"

    def value(self, column: str) -> str:
        """The column as the type the store keeps it in (checked first by _validate)."""
        kind = STAGED_COLUMNS[column]
        if column not in self.types:
            return f"CAST(NULL AS {kind})"
        if self.types[column] in _NUMBER_TYPES:
            return f"CAST({quoted(column)} AS {kind})"
        return f"CAST({self.text(column)} AS {kind})"


def _describe(conn: duckdb.DuckDBPyConnection, *, typed: bool, stratum: str | None) -> _Staged:
    """The staged columns; after a typed read, its text columns are taken as clean (``_odd`` checks that)."""
    types = {str(r[0]): str(r[1]) for r in conn.execute("DESCRIBE _staged").fetchall()}
    text = {c for c in (*_TEXT_COLUMNS, stratum) if c in types and types[c] == "VARCHAR"}
    return _Staged(types, frozenset(text) if typed else frozenset())


def _odd(conn: duckdb.DuckDBPyConnection, staged: _Staged) -> bool:
    """Whether any staged row breaks a rule or has text to trim (a padded or empty value): one scan that
    finds no line; a file for which it says yes is read again as text, where the line is named."""
    conditions = [cond for cond, _, _ in _rules(staged)]
    conditions += [
        f"{quoted(c)} = '' OR {quoted(c)} LIKE ' %' OR {quoted(c)} LIKE '% '" for c in staged.clean
    ]
    any_odd = " OR ".join(f"coalesce({cond}, false)" for cond in conditions)
    return conn.execute(f"SELECT 1 FROM _staged WHERE {any_odd} LIMIT 1").fetchone() is not None


def _check_columns(path: Path, staged: _Staged) -> None:
    missing = [c for c in REQUIRED if c not in staged.types]
    if missing:
        raise InputError(
            f"{path}: missing required column '{missing[0]}' (a table needs {', '.join(REQUIRED)})."
        )


def _rules(staged: _Staged) -> list[tuple[str, str, str]]:
    """(condition that marks a bad row, the column to quote, the message); on one row the first rule wins. A
    column read as a number needs no check that it is one."""
    types, text, number = staged.types, staged.text, staged.number
    columns = set(types)
    rules: list[tuple[str, str, str]] = [
        (f"{text(c)} IS NULL", c, f"column '{c}' is empty") for c in ("benchmark", "item_id", "model")
    ]
    for column, kind_sql in _NUMERIC.items():
        if column not in columns:
            continue
        if types[column] not in _NUMBER_TYPES:
            rules.append(
                (
                    f"{text(column)} IS NOT NULL AND TRY_CAST({text(column)} AS {kind_sql}) IS NULL",
                    column,
                    f"column '{column}' is not a number ({{value!r}})",
                )
            )
        elif kind_sql in _LARGEST:
            rules.append(
                (
                    f"{number(column)} > {_LARGEST[kind_sql]}",
                    column,
                    f"column '{column}' is too large ({{value}})",
                )
            )
        if kind_sql != "DOUBLE":  # counts: DuckDB's cast would round 12.7 to 13 without a word
            rules.append(
                (
                    f"{number(column)} <> floor({number(column)})",
                    column,
                    f"column '{column}' is not a whole number ({{value}})",
                )
            )
    score = number("score")
    rules.append(
        (f"{score} NOT BETWEEN 0 AND 1 OR isnan({score})", "score", "score {value} is outside [0, 1]")
    )
    for column in _NON_NEGATIVE:
        if column in columns:
            rules.append((f"{number(column)} < 0", column, f"column '{column}' is negative ({{value}})"))
            # money and tokens are finite: a NaN or infinite cost would switch the spend cap off
            rules.append(
                (
                    f"NOT isfinite({number(column)})",
                    column,
                    f"column '{column}' is not a finite number ({{value}})",
                )
            )
    if "status" in columns:
        allowed = ", ".join(f"'{s}'" for s in STATUSES)
        rules.append(
            (
                f"lower({text('status')}) NOT IN ({allowed})",
                "status",
                f"status {{value!r}} is not one of {', '.join(STATUSES)}",
            )
        )
    if "started_at" in columns:
        rules.append(
            (
                f"{text('started_at')} IS NOT NULL AND TRY_CAST({text('started_at')} AS TIMESTAMP) IS NULL",
                "started_at",
                "started_at {value!r} is not a timestamp",
            )
        )
    return rules


def _validate(conn: duckdb.DuckDBPyConnection, path: Path, kind: str, staged: _Staged) -> None:
    """Refuse the file at its first bad line, checking every rule in one scan of the staged rows."""
    text = staged.text
    rules = _rules(staged)
    any_bad = " OR ".join(f"coalesce({cond}, false)" for cond, _, _ in rules)
    if conn.execute(f"SELECT 1 FROM _staged WHERE {any_bad} LIMIT 1").fetchone() is None:
        return  # the common case, in one cheap scan; the line is found only for a file that has one
    firsts = conn.execute(
        "SELECT " + ", ".join(f"min({ROW}) FILTER (WHERE {cond})" for cond, _, _ in rules) + " FROM _staged"
    ).fetchone()
    bad_rows = [(row, index) for index, row in enumerate(firsts or ()) if row is not None]
    if not bad_rows:
        return
    row, index = min(bad_rows)
    _, column, message = rules[index]
    shown = conn.execute(f"SELECT {text(column)} FROM _staged WHERE {ROW} = ?", [row]).fetchone()
    raise InputError(f"{_where(path, kind, row)}: {message.format(value=shown[0] if shown else None)}.")


def read_table(
    conn: duckdb.DuckDBPyConnection, path: Path, *, stratum_column: str | None = None, ordered: bool = True
) -> str | None:
    """Check one table file and stage its rows as the view ``_rows`` for store_rows (which drops it); returns
    the file's single source (its ``source`` column, when every row names the same one) or None.

    Unless ``ordered``, a good CSV's rows may be staged out of their file order (faster); ``_row`` then names
    no line, and store_rows must be given a way to stage them again in order before it names one."""
    kind = table_kind(path)
    typed = _stage(conn, path, kind, ordered=ordered)
    try:
        staged = _describe(conn, typed=typed, stratum=stratum_column or "stratum")
        _check_columns(path, staged)
        if typed and _odd(conn, staged):  # read it again as text: its message quotes the value as written
            _stage(conn, path, kind, typed=False)
            staged = _describe(conn, typed=False, stratum=stratum_column or "stratum")
            typed = False
        if not typed:
            _validate(conn, path, kind, staged)
        columns = set(staged.types)
        if stratum_column is not None and stratum_column not in columns:
            raise InputError(f"{path}: has no column '{stratum_column}' to use as the stratum (--stratum).")
        stratum = stratum_column or ("stratum" if "stratum" in columns else None)
        text, value = staged.text, staged.value
        defaults = {
            "scaffold": f"coalesce({value('scaffold')}, '')",
            "repeat": f"coalesce({value('repeat')}, 0)",
            "status": (
                f"coalesce({'lower(' + text('status') + ')' if 'status' in columns else 'NULL'}, "
                f"CASE WHEN {value('score')} IS NULL THEN 'error' ELSE 'ok' END)"
            ),
            "stratum": text(stratum) if stratum else "CAST(NULL AS VARCHAR)",
        }
        selected = ", ".join(
            f"{defaults.get(name, value(name))} AS {quoted(name)}" for name in STAGED_COLUMNS
        )
        source = None
        if "source" in columns:
            sources = conn.execute(f"SELECT DISTINCT {text('source')} FROM _staged LIMIT 2").fetchall()
            if len(sources) == 1 and sources[0][0]:
                source = str(sources[0][0])
        # a view, not a copy: store_rows reads it about three times, each cheaper than writing 1M rows again
        conn.execute(f"CREATE OR REPLACE TEMP VIEW _rows AS SELECT {ROW} AS _row, {selected} FROM _staged")
        return source
    except BaseException:
        drop_staging(conn)
        raise


def release_dates(
    conn: duckdb.DuckDBPyConnection, path: Path, restage: Callable[[], object]
) -> list[tuple[str, date]]:
    """The staged table's (model, release date) pairs, where it has a ``release_date`` column; a value that is
    no date, or a model given two dates, is refused naming the line (``restage`` stages the file again in
    order, so the line is the file's)."""
    columns = {str(r[0]) for r in conn.execute("DESCRIBE _staged").fetchall()}
    if "release_date" not in columns:
        return []
    value = "NULLIF(trim(CAST(release_date AS VARCHAR)), '')"
    bad = f"{value} IS NOT NULL AND TRY_CAST({value} AS DATE) IS NULL"
    if conn.execute(f"SELECT 1 FROM _staged WHERE {bad} LIMIT 1").fetchone() is not None:
        restage()
        row, shown = conn.execute(
            f"SELECT {ROW}, {value} FROM _staged WHERE {bad} ORDER BY 1 LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        raise InputError(f"{_where(path, table_kind(path), row)}: release_date {shown!r} is not a date.")
    dated = conn.execute(
        f"SELECT trim(model), min(TRY_CAST({value} AS DATE)), max(TRY_CAST({value} AS DATE)) FROM _staged "
        f"WHERE {value} IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall()
    for model, first, last in dated:
        if first != last:
            raise InputError(f"{path}: model {model!r} has two release dates ({first} and {last}).")
    return [(str(model), first) for model, first, _ in dated]


def checkpoint_steps(
    conn: duckdb.DuckDBPyConnection, path: Path, restage: Callable[[], object]
) -> list[tuple[str, str, int]]:
    """The staged table's (model, series, step) triples where it has ``series`` and ``step`` columns (a model
    that is one checkpoint of a training run); a step that is not a whole number of 0 or more, or a model given
    two, is refused naming the line."""
    columns = {str(r[0]) for r in conn.execute("DESCRIBE _staged").fetchall()}
    if not {"series", "step"} & columns:
        return []
    if not {"series", "step"} <= columns:
        have, lacks = ("series", "step") if "series" in columns else ("step", "series")
        raise InputError(f"{path}: has a '{have}' column but no '{lacks}' column (a checkpoint needs both).")
    series = "NULLIF(trim(CAST(series AS VARCHAR)), '')"
    step = "NULLIF(trim(CAST(step AS VARCHAR)), '')"
    number = f"TRY_CAST({step} AS DOUBLE)"
    bad = (
        f"({series} IS NULL) <> ({step} IS NULL) OR ({step} IS NOT NULL AND "
        f"({number} IS NULL OR {number} < 0 OR {number} <> floor({number}) OR {number} > 9e15))"
    )
    if conn.execute(f"SELECT 1 FROM _staged WHERE {bad} LIMIT 1").fetchone() is not None:
        restage()
        row, shown_series, shown_step = conn.execute(
            f"SELECT {ROW}, {series}, {step} FROM _staged WHERE {bad} ORDER BY 1 LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        what = (
            "a checkpoint needs both series and step"
            if (shown_series is None) != (shown_step is None)
            else f"step {shown_step!r} is not a whole number of 0 or more"
        )
        raise InputError(f"{_where(path, table_kind(path), row)}: {what}.")
    rows = conn.execute(
        f"SELECT trim(model), min({series}), max({series}), min(CAST({number} AS BIGINT)), "
        f"max(CAST({number} AS BIGINT)) FROM _staged WHERE {series} IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall()
    for model, first_series, last_series, first_step, last_step in rows:
        if (first_series, first_step) != (last_series, last_step):
            raise InputError(f"{path}: model {model!r} is given two checkpoints (series and step).")
    return [(str(model), str(name), int(at)) for model, name, _, at, _ in rows]


def where_in_table(path: Path) -> Callable[[int], str]:
    """Names row ``n`` of a table file (its line, or its row in a Parquet file)."""
    kind = table_kind(path)
    return lambda row: _where(path, kind, row)
