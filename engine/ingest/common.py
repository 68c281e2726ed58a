"""What every ingest format shares: the rollout columns, run records, and bulk insertion through DuckDB."""

from __future__ import annotations

import functools
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from evalbudget.engine.errors import InputError
from evalbudget.engine.records import INGESTED_ROLLOUT_COLUMNS, ITEMS, ROLLOUTS, RUNS, quoted, struct_literal

STATUSES = ("ok", "error", "limit")


@dataclass
class FileResult:
    """What one file added to the store."""

    path: str
    format: str
    run_id: str | None  # None when nothing was added because every row was stored before
    rollouts: int = 0
    items: int = 0
    duplicates: int = 0  # rows repeated in the file, or stored before from the same source: not added again
    skipped: bool = False  # nothing new: the same bytes or the same rows were ingested before
    priced: int = 0  # rollouts priced from tokens x the price book (their source recorded no cost)
    aggregate_runs: int = 0  # aggregate-only runs added (a results file's tasks)
    skipped_tasks: list[str] = field(default_factory=list)  # tasks with no usable score, not stored
    benchmarks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def run_id_for(harness: str, sha256: str) -> str:
    return f"{harness}-{sha256[:16]}"


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def insert_run(
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    source: str,
    harness: str,
    source_path: str | None,
    sha256: str | None,
    **aggregate: Any,
) -> None:
    columns = ["run_id", "source", "harness", "source_path", "content_sha256", "imported_at", *aggregate]
    values = [run_id, source, harness, source_path, sha256, now_utc(), *aggregate.values()]
    placeholders = ", ".join("?" for _ in columns)
    conn.execute(f"{RUNS.insert(columns)} VALUES ({placeholders})", values)


def check_score(value: Any, where: str) -> float | None:
    """A score as a float in [0, 1], or None; anything else is refused naming ``where``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        score = float(value)
    elif isinstance(value, str):
        letter = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}.get(value.strip().upper())
        if letter is not None:
            return letter
        try:
            score = float(value)
        except ValueError:
            raise InputError(f"{where}: score {value!r} is not a number.") from None
    else:
        raise InputError(f"{where}: score {value!r} is not a number.")
    if math.isnan(score) or not 0.0 <= score <= 1.0:
        raise InputError(f"{where}: score {score:g} is outside [0, 1].")
    return score


ROW_KEY = ("benchmark", "item_id", "model", "scaffold", "repeat")
"""A rollout's identity within its source: ingest stores each at most once, whatever the file's bytes."""
STAGED_COLUMNS = {**INGESTED_ROLLOUT_COLUMNS, "stratum": "VARCHAR"}
"""The columns of the temp view ``_rows`` every reader defines (plus ``_row``, the record's place in its file)
over its temp table ``_staged``, typed once; store_rows drops both."""


@dataclass
class Stored:
    """What store_rows did with a file's rows."""

    rollouts: int = 0  # rows added
    items: int = 0  # items new to the store
    duplicates: int = 0  # rows repeated inside the file or stored before from the same source


def insert_rollouts(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    source: str,
    records: Iterable[Mapping[str, Any]],
    where: Callable[[int], str],
) -> Stored:
    """Stage parsed rollouts and store the new ones (see store_rows); ``where(n)`` names the n-th record.

    A record is a dict keyed by INGESTED_ROLLOUT_COLUMNS, plus ``_stratum`` for its item's stratum when known.
    The records go through a temporary JSONL file that DuckDB reads in one pass, which is far faster than
    row-by-row inserts and keeps the typing in one place.
    """
    others: list[dict[str, Any]] = []
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        count = 0
        for record in records:
            count += 1
            row = {name: record.get(name) for name in INGESTED_ROLLOUT_COLUMNS}
            check_amounts(row, where(count))
            row["started_at"] = _timestamp(row["started_at"])
            row["stratum"] = record.get("_stratum")
            row["_row"] = count
            handle.write(json.dumps(row, default=str) + "\n")
            for used_by, tokens in (record.get("_other_usage") or {}).items():
                check_amounts({**tokens, "model": used_by, "item_id": row["item_id"]}, where(count))
                others.append(
                    {**{k: row[k] for k in ROW_KEY}, "scaffold": row["scaffold"] or "", "repeat": row["repeat"] or 0,
                     "used_by": used_by, **{k: tokens.get(k) for k in TOKEN_COLUMNS}}
                )  # fmt: skip
        temp = Path(handle.name)
    try:
        if count == 0:
            return Stored()
        if others:
            _stage_other_usage(conn, run_id, others)
        columns = struct_literal({"_row": "BIGINT", **STAGED_COLUMNS})
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _staged AS
            SELECT * REPLACE (coalesce(scaffold, '') AS scaffold, coalesce("repeat", 0) AS "repeat",
                coalesce(status, CASE WHEN score IS NULL THEN 'error' ELSE 'ok' END) AS status)
            FROM read_json(?, format='newline_delimited', columns={columns})""",
            [str(temp)],
        )
        conn.execute("CREATE OR REPLACE TEMP VIEW _rows AS SELECT * FROM _staged")
        return store_rows(conn, run_id, source, where)
    finally:
        temp.unlink(missing_ok=True)


TOKEN_COLUMNS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
OTHER_USAGE = "_other_usage"
"""Temp table of the tokens a rollout spent on models other than its own (a model grader, say): (run_id, ROW_KEY,
used_by, TOKEN_COLUMNS). Ingest prices each at its own model's price into the rollout's cost, then drops it."""


def _stage_other_usage(conn: duckdb.DuckDBPyConnection, run_id: str, rows: list[dict[str, Any]]) -> None:
    """Keep the other models' tokens of the run's rollouts for pricing (kept across the command's files)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        for row in rows:
            handle.write(json.dumps({"run_id": run_id, **row}, default=str) + "\n")
        temp = Path(handle.name)
    try:
        typed = {"run_id": "VARCHAR", **{k: STAGED_COLUMNS[k] for k in ROW_KEY}, "used_by": "VARCHAR",
                 **{k: "BIGINT" for k in TOKEN_COLUMNS}}  # fmt: skip
        columns = struct_literal(typed)
        conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {OTHER_USAGE} ("
            + ", ".join(f"{quoted(n)} {k}" for n, k in typed.items())
            + ")"
        )
        conn.execute(
            f"INSERT INTO {OTHER_USAGE} SELECT * FROM read_json(?, format='newline_delimited', columns={columns})",
            [str(temp)],
        )
    finally:
        temp.unlink(missing_ok=True)


def store_rows(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    source: str,
    where: Callable[[int], str],
    *,
    reorder: Callable[[], object] | None = None,
) -> Stored:
    """Insert the staged ``_rows`` under ``run_id``, each rollout at most once for its source; drops the staging.

    A row repeated exactly inside the file is stored once; rows that share an identity (ROW_KEY) but differ are
    refused, naming both lines; a row stored before from the same ``source`` with the same result is skipped,
    and one with another result is refused. So the same content ingests once however its file's bytes differ.
    ``reorder`` stages the rows again in file order, for rows staged out of it: it is called before any work
    that may name a line (rows that repeat an identity, or a source that holds rows already).
    """
    key = ", ".join(quoted(name) for name in ROW_KEY)
    payload = ", ".join(quoted(name) for name in STAGED_COLUMNS)
    try:
        # distinct hashes are distinct keys; a hash collision only sends the rows to the exact check below
        counts = conn.execute(f"SELECT count(*), count(DISTINCT hash({key})) FROM _rows").fetchone()
        total, distinct = (int(counts[0]), int(counts[1])) if counts else (0, 0)
        seen_source = conn.execute("SELECT count(*) FROM runs WHERE source = ?", [source]).fetchone()
        seen = bool(seen_source and seen_source[0])
        if reorder is not None and (distinct < total or seen):
            reorder()
        unique = "_rows"
        if distinct < total:  # some identity repeats: identical rows count once, different ones are refused
            unique = "_unique"
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE _unique AS SELECT min(_row) AS _row, {payload} FROM _rows "
                f"GROUP BY ALL"
            )
            clash = conn.execute(
                f"""SELECT min(_row), max(_row), any_value(model), any_value(item_id), any_value("repeat")
                FROM _unique GROUP BY {key} HAVING count(*) > 1 ORDER BY 1 LIMIT 1"""
            ).fetchone()
            if clash:
                first, second, model, item, repeat = clash
                raise InputError(
                    f"{where(second)}: {model!r} on item {item!r} (repeat {repeat}) has another result on "
                    f"{_line_of(where(first))}; give each attempt its own repeat number."
                )
        if not seen:  # nothing from this source yet: every row is new
            new = unique
        else:
            stored = conn.execute(
                f"""SELECT u._row, r.score, u.score, r.status, u.status FROM {unique} u
                JOIN rollouts r USING ({key}) JOIN runs USING (run_id)
                WHERE runs.source = ? AND (r.score IS DISTINCT FROM u.score OR r.status <> u.status)
                ORDER BY u._row LIMIT 1""",
                [source],
            ).fetchone()
            if stored:
                row, old_score, new_score, old_status, new_status = stored
                raise InputError(
                    f"{where(row)}: source {source!r} already holds this rollout with score {old_score} "
                    f"({old_status}), not {new_score} ({new_status}); ingest it with another --source to keep "
                    "both."
                )
            new = "_new"
            conn.execute(
                f"""CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM {unique} u WHERE NOT EXISTS (
                    SELECT 1 FROM rollouts r JOIN runs USING (run_id) WHERE runs.source = ? AND
                    {" AND ".join(f"r.{quoted(n)} = u.{quoted(n)}" for n in ROW_KEY)})""",
                [source],
            )
        added = _count(conn, new) if new != "_rows" else total
        conn.execute(
            f"""
            {ROLLOUTS.insert()}
            SELECT ?, benchmark, item_id, model, scaffold, "repeat", score, status,
                input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd,
                CASE WHEN cost_usd IS NULL THEN 'unknown' ELSE 'recorded' END,
                latency_s, gpu_seconds, gpu_type, api_calls, started_at
            FROM {new} {"" if new == "_rows" else "ORDER BY _row"}
            """,  # the view keeps the file's order without a sort
            [run_id],
        )
        return Stored(added, add_items(conn, new), total - added)
    finally:
        drop_staging(conn)


def drop_staging(conn: duckdb.DuckDBPyConnection) -> None:
    """Drop a reader's staging: the view ``_rows`` and the temp tables behind and after it."""
    conn.execute("DROP VIEW IF EXISTS _rows")
    for table in ("_new", "_unique", "_staged"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _line_of(where: str) -> str:
    """'file, line 7' -> 'line 7', for a message that names its file once."""
    return where.rsplit(", ", 1)[-1]


AMOUNTS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "gpu_seconds",
)
"""Money and token values: finite and non-negative wherever they come from."""


WHOLE = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "repeat",
    "api_calls",
)
"""Counts: a fractional value is refused, never rounded."""


def is_count(value: object) -> bool:
    """Whether ``value`` is a token count as the store takes one: a whole, finite number of 0 or more."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
        and float(value).is_integer()
    )


def output_beside_reasoning(output: Any, reasoning: Any) -> tuple[Any, Any]:
    """(output, reasoning) tokens as the store keeps them, from a usage record whose output count includes its
    reasoning (Inspect's ModelUsage, and Every Eval Ever's token_usage after it: "total output tokens used"):
    the store's output_tokens leave reasoning out, as the price is (output + reasoning) x the output rate.
    A reasoning count above the output is left as written (check_amounts refuses what is not a count)."""
    if is_count(output) and is_count(reasoning) and reasoning <= output:
        return output - reasoning, reasoning
    return output, reasoning


def check_amounts(row: Mapping[str, Any], where: str) -> None:
    """Refuse a rollout whose money or token value is negative, NaN or infinite, or whose count is fractional."""
    for name in (*AMOUNTS, *WHOLE):
        value = row.get(name)
        if value is None or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise InputError(
                f"{where}: the rollout of {row.get('model')!r} on item {row.get('item_id')!r} has {name} "
                f"{value!r}, not a finite number of 0 or more."
            )
        if name in WHOLE and not number.is_integer():
            raise InputError(
                f"{where}: the rollout of {row.get('model')!r} on item {row.get('item_id')!r} has {name} "
                f"{value!r}, not a whole number."
            )


def _timestamp(value: Any) -> str | None:
    """An ISO timestamp as naive UTC (the store's convention); unparseable metadata is dropped."""
    if value is None:
        return None
    if isinstance(value, int | float):  # epoch milliseconds
        moment = datetime.fromtimestamp(value / 1000, UTC)
    elif isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def add_items(conn: duckdb.DuckDBPyConnection, staged_table: str) -> int:
    """Add (benchmark, item_id, stratum) rows of ``staged_table`` to items; fill a missing stratum."""
    before = _count(conn, "items")
    conn.execute(
        f"""
        {ITEMS.insert(("benchmark", "item_id", "stratum"))}
        SELECT benchmark, item_id, any_value(stratum) FROM {staged_table} GROUP BY benchmark, item_id
        ON CONFLICT (benchmark, item_id) DO UPDATE SET stratum = coalesce(items.stratum, excluded.stratum)
        """
    )
    return _count(conn, "items") - before


def _count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def distinct_values(conn: duckdb.DuckDBPyConnection, run_id: str, column: str) -> list[str]:
    rows = conn.execute(
        f"SELECT DISTINCT {column} FROM rollouts WHERE run_id = ? ORDER BY 1", [run_id]
    ).fetchall()
    return [str(r[0]) for r in rows]


def slug(text: str) -> str:
    """A benchmark's name as a slug (``HellaSwag`` -> ``hellaswag``, ``Anthropic Red Team`` ->
    ``anthropic-red-team``): how Every Eval Ever records and HELM run groups come to share one name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def json_object(block: object, key: str) -> dict[str, Any]:
    """``block[key]`` where both are JSON objects, else an empty one (a reader's optional sections)."""
    value = block.get(key) if isinstance(block, dict) else None
    return value if isinstance(value, dict) else {}


def read_json_file(path: Path) -> Any:
    """Parse a whole JSON file; a syntax error names the file and line. The last file read is kept (by its
    size and modification time), so telling a file's format and then reading it parses it once."""
    stat = path.stat()
    return _parsed_json(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)
def _parsed_json(path_text: str, _mtime_ns: int, _size: int) -> Any:
    path = Path(path_text)
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file.") from None


def iter_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line names the file and line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{path}, line {number}: not UTF-8 text (JSON lines are text).") from None
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}, line {number}: not valid JSON ({exc.msg}).") from None
            if not isinstance(value, dict):
                raise InputError(f"{path}, line {number}: expected a JSON object.")
            yield number, value
