"""What every ingest format shares: the rollout columns, run records, and bulk insertion through DuckDB."""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from evalbudget.engine.errors import InputError
from evalbudget.engine.records import INGESTED_ROLLOUT_COLUMNS, ITEMS, ROLLOUTS, RUNS

STATUSES = ("ok", "error", "limit")


@dataclass
class FileResult:
    """What one file added to the store."""

    path: str
    format: str
    run_id: str
    rollouts: int = 0
    items: int = 0
    skipped: bool = False  # the same content was ingested before
    priced: int = 0  # rollouts priced from tokens x the price book (their source recorded no cost)
    benchmarks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def insert_rollouts(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    records: Iterable[Mapping[str, Any]],
) -> tuple[int, int]:
    """Insert parsed rollouts and their items; returns (rollouts, new items).

    A record is a dict keyed by INGESTED_ROLLOUT_COLUMNS, plus ``_stratum`` for its item's stratum when known.

    The records go through a temporary JSONL file that DuckDB reads in one pass, which is far faster than
    row-by-row inserts and keeps the typing in one place.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        count = 0
        for record in records:
            row = {name: record.get(name) for name in INGESTED_ROLLOUT_COLUMNS}
            check_amounts(row)
            row["started_at"] = _timestamp(row["started_at"])
            row["stratum"] = record.get("_stratum")
            handle.write(json.dumps(row, default=str) + "\n")
            count += 1
        temp = Path(handle.name)
    try:
        if count == 0:
            return 0, 0
        typed = {**INGESTED_ROLLOUT_COLUMNS, "stratum": "VARCHAR"}
        columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in typed.items()) + "}"
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _parsed AS SELECT * FROM read_json(?, format='newline_delimited', "
            f"columns={columns})",
            [str(temp)],
        )
        conn.execute(
            f"""
            {ROLLOUTS.insert()}
            SELECT ?, benchmark, item_id, model, coalesce(scaffold, ''), coalesce("repeat", 0),
                score, coalesce(status, CASE WHEN score IS NULL THEN 'error' ELSE 'ok' END),
                input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd,
                CASE WHEN cost_usd IS NULL THEN 'unknown' ELSE 'recorded' END,
                latency_s, gpu_seconds, gpu_type, api_calls, started_at
            FROM _parsed
            """,
            [run_id],
        )
        new_items = add_items(conn, "_parsed")
    finally:
        temp.unlink(missing_ok=True)
        conn.execute("DROP TABLE IF EXISTS _parsed")
    return count, new_items


AMOUNTS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "gpu_seconds",
)
"""Money and token values: finite and non-negative wherever they come from."""


def check_amounts(row: Mapping[str, Any]) -> None:
    """Refuse a rollout whose money or token value is negative, NaN or infinite, naming it."""
    for name in AMOUNTS:
        value = row.get(name)
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise InputError(
                f"the rollout of {row.get('model')!r} on item {row.get('item_id')!r}: {name} {value!r} is not a "
                "finite number of 0 or more."
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


def read_json_file(path: Path) -> Any:
    """Parse a whole JSON file; a syntax error names the file and line."""
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
