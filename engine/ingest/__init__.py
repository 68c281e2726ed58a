"""Ingest eval results into the store: one transaction per command, each rollout stored once per source.

Formats: ``table`` (the project's long format, CSV/JSONL/Parquet), ``inspect`` (Inspect AI .eval/.json
logs), ``lm-eval`` (samples_*.jsonl), ``helm`` (per_instance_stats.json), ``eee`` (Every Eval Ever
*_samples.jsonl) and ``hal`` (HAL *_UPLOAD.json). ``auto`` picks one from the file's name and content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from evalbudget.engine.digest import sha256_of
from evalbudget.engine.errors import InputError
from evalbudget.engine.export import MANIFEST as EXPORT_MANIFEST
from evalbudget.engine.export import import_export
from evalbudget.engine.ingest.common import (
    OTHER_USAGE,
    FileResult,
    distinct_values,
    drop_staging,
    insert_rollouts,
    insert_run,
    now_utc,
    read_json_file,
    run_id_for,
    store_rows,
)
from evalbudget.engine.ingest.eee import parse_eee
from evalbudget.engine.ingest.eee_record import is_eee_record, read_record
from evalbudget.engine.ingest.hal import is_hal_upload, read_hal
from evalbudget.engine.ingest.helm import parse_helm
from evalbudget.engine.ingest.inspect_log import Headline, header_result, is_inspect_log, parse_inspect
from evalbudget.engine.ingest.lm_eval import parse_lm_eval
from evalbudget.engine.ingest.lm_eval_results import is_results_file, read_results
from evalbudget.engine.ingest.pricing_fill import price_unpriced, usage_cost
from evalbudget.engine.ingest.table import (
    checkpoint_steps,
    read_table,
    release_dates,
    table_kind,
    where_in_table,
)
from evalbudget.engine.records import CHECKPOINTS, MODELS, RUNS

if TYPE_CHECKING:
    from evalbudget.pricing import PriceBook

__all__ = ["FORMATS", "FailedFile", "FileResult", "detect_format", "expand_paths", "ingest_files"]

FORMATS = ("auto", "table", "eee", "inspect", "lm-eval", "helm", "hal")


@dataclass(frozen=True)
class ReadOptions:
    """What the user told the readers about their files (each option applies to the formats that use it)."""

    stratum: str | None = None
    """table: the column that fills the items' stratum."""
    metric: str | None = None
    """lm-eval and HELM: the metric that scores each task or run, instead of the format's main one."""
    split: str | None = None
    """HELM: the split whose instances are read (default: the suite schema's main split, else test)."""
    benchmark: str | None = None
    """HAL: the benchmark, where the file does not name it."""
    model: str | None = None
    """HAL: the model, where the file does not name it."""


_PARSERS: dict[str, Callable[[Path, ReadOptions], Iterable[dict[str, Any]]]] = {
    "inspect": lambda path, _: parse_inspect(path),
    "lm-eval": lambda path, options: parse_lm_eval(path, options.metric),
    "helm": lambda path, options: parse_helm(path, metric=options.metric, split=options.split),
    "eee": lambda path, _: parse_eee(path),
}


def detect_format(path: Path) -> str:
    """The format of one file, from its name and (for plain .json) its top-level keys."""
    name = path.name
    suffix = path.suffix.lower()
    if name == EXPORT_MANIFEST:
        return "export"
    if suffix == ".eval":
        return "inspect"
    if name.endswith("_UPLOAD.json"):
        return "hal"
    if name == "per_instance_stats.json":
        return "helm"
    if suffix == ".jsonl" and name.startswith("samples_"):
        return "lm-eval"
    if name.endswith("_samples.jsonl"):
        return "eee"
    if suffix == ".json":  # by the fields each format requires
        data = read_json_file(path)
        if is_results_file(data):
            return "lm-eval"
        if is_eee_record(data):
            return "eee"
        if is_hal_upload(data):
            return "hal"
        if is_inspect_log(data):
            return "inspect"
        raise InputError(
            f"{path}: a JSON file evalbudget does not know (not an Inspect log with an 'eval' naming its task and model, an "
            "lm-eval results file with 'results' and 'config', an Every Eval Ever record, nor a HAL upload with "
            "'results' and 'raw_eval_results'); name its format with --format."
        )
    if suffix in (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"):
        return "table"
    raise InputError(
        f"{path}: cannot tell its format from the name; name one with --format ({', '.join(FORMATS[1:])})."
    )


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a folder stands for the files inside it whose format can be told from the name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # a store's export stands for itself (its manifest), not for the Parquet files inside it
            exports = sorted(m.parent for m in path.rglob(EXPORT_MANIFEST))
            files += [folder / EXPORT_MANIFEST for folder in exports]
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(child.is_relative_to(folder) for folder in exports):
                    continue
                try:
                    detect_format(child)
                except InputError:
                    continue
                if child.name in ("run_spec.json",):
                    continue
                files.append(child)
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file.")
    return files


@dataclass
class FailedFile:
    """A file --keep-going left out: where, and why (one sentence)."""

    path: str
    reason: str


def ingest_files(
    conn: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    *,
    fmt: str = "auto",
    source: str | None = None,
    options: ReadOptions = ReadOptions(),
    on_file: Callable[[int, int, Path], None] | None = None,
    prices: Callable[[], PriceBook] | None = None,
    failed: list[FailedFile] | None = None,
) -> list[FileResult]:
    """Ingest every file in one transaction: all of them land, or (on any error) none does. Given a ``failed``
    list (--keep-going), each file is a transaction of its own instead: a bad file is added to ``failed`` and
    the rest land. Given ``prices`` (which loads a price book; called only when needed), rollouts that have
    tokens but no cost (in runs that record none) are priced."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if options.stratum is not None and not options.stratum:
        raise InputError("--stratum needs a column name.")
    files = expand_paths(paths)
    if not files:
        raise InputError("No files to ingest were found in the paths given.")
    results: list[FileResult] = []
    seen: set[str] = set()
    batches = [[f] for f in files] if failed is not None else [files]
    done = 0
    for batch in batches:
        conn.execute("BEGIN TRANSACTION")
        try:
            batch_results = []
            for path in batch:
                if on_file:
                    on_file(done, len(files), path)
                done += 1
                try:
                    batch_results.append(_ingest_one(conn, path, fmt, source, options, seen, prices))
                except InputError as exc:
                    if str(path) in str(exc):
                        raise
                    raise InputError(f"{path}: {exc}") from None
            if prices is not None:
                _price(conn, batch_results, prices)
            conn.execute(f"DROP TABLE IF EXISTS {OTHER_USAGE}")
            conn.execute("COMMIT")
        except InputError as exc:
            conn.execute("ROLLBACK")
            if failed is None:
                raise
            failed.append(FailedFile(str(batch[0]), str(exc)))
            continue
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        results.extend(batch_results)
    return results


def _price(
    conn: duckdb.DuckDBPyConnection, results: list[FileResult], prices: Callable[[], PriceBook]
) -> None:
    """Price the new runs' token-only rollouts and count them per file."""
    added = [r for r in results if not r.skipped]
    run_ids = [r.run_id for r in added if r.run_id is not None]
    if not run_ids or not price_unpriced(conn, run_ids, prices):
        return
    counts = dict(
        conn.execute(
            "SELECT run_id, count(*) FROM rollouts WHERE cost_source = 'priced' "
            "AND list_contains(?, run_id) GROUP BY run_id",
            [run_ids],
        ).fetchall()
    )
    for r in added:
        r.priced = int(counts.get(r.run_id, 0))


def _ingest_one(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: str,
    source: str | None,
    options: ReadOptions,
    seen: set[str],
    prices: Callable[[], PriceBook] | None = None,
) -> FileResult:
    file_format = detect_format(path) if fmt == "auto" else fmt
    if file_format == "export" or path.name == EXPORT_MANIFEST:
        return import_export(conn, path)
    if file_format == "table":
        table_kind(path)  # refuses an extension the table reader cannot take, before hashing
    sha = sha256_of(path)
    run_id = run_id_for(file_format, sha)
    existing = conn.execute("SELECT run_id, source FROM runs WHERE content_sha256 = ?", [sha]).fetchone()
    if (existing and (source is None or existing[1] == source)) or sha in seen:
        return FileResult(str(path), file_format, existing[0] if existing else run_id, skipped=True)
    seen.add(sha)
    stored_sha: str | None = sha
    if existing:  # the same bytes, named as another source (--source): stored again, the hash kept once
        stored_sha, run_id = (
            None,
            run_id_for(file_format, hashlib.sha256(f"{sha}:{source}".encode()).hexdigest()),
        )
    run_source = source or (path.parent.name if file_format == "helm" else path.name)
    if file_format == "lm-eval" and path.suffix.lower() == ".json":
        return _ingest_results(conn, path, (run_id, stored_sha), run_source, options.metric)
    if file_format == "eee" and path.suffix.lower() == ".json":
        return _ingest_record(conn, path, (run_id, stored_sha), source)
    aggregate: dict[str, Any] = {}
    if file_format == "table":
        stratum = options.stratum
        file_source = read_table(conn, path, stratum_column=stratum, ordered=False)
        run_source = source or file_source or path.name
        try:
            restage = lambda: read_table(conn, path, stratum_column=stratum)  # noqa: E731
            dates = release_dates(conn, path, restage=restage)
            steps = checkpoint_steps(conn, path, restage=restage)
        except BaseException:
            drop_staging(conn)
            raise
        stored = store_rows(
            conn,
            run_id,
            run_source,
            where_in_table(path),
            reorder=lambda: read_table(conn, path, stratum_column=stratum),
        )
        if dates:
            conn.executemany(
                f"{MODELS.insert()} VALUES (?, ?) ON CONFLICT (model) DO UPDATE SET release_date = excluded.release_date",
                dates,
            )
        if steps:
            conn.executemany(
                f"{CHECKPOINTS.insert(('model', 'series', 'step'))} VALUES (?, ?, ?) "
                "ON CONFLICT (model) DO UPDATE SET series = excluded.series, step = excluded.step",
                steps,
            )
    else:
        records: Iterable[dict[str, Any]]
        if file_format == "hal":
            run_fields, records = read_hal(path, benchmark=options.benchmark, model=options.model)
            run_source = source or run_fields["source"]
            aggregate = {"total_cost_usd": run_fields["total_cost_usd"]}
        else:
            records = _PARSERS[file_format](path, options)
        stored = insert_rollouts(conn, run_id, run_source, records, lambda n: f"{path}, rollout {n}")
    if stored.rollouts + stored.duplicates == 0:
        if file_format == "inspect" and (headline := header_result(path)) is not None:
            return _ingest_header(conn, path, (run_id, stored_sha), run_source, headline, prices)
        raise InputError(f"{path}: holds no rollouts.")
    result = FileResult(str(path), file_format, run_id, stored.rollouts, stored.items, stored.duplicates)
    if stored.rollouts == 0:  # every row was stored before from this source: nothing to add
        result.skipped, result.run_id = True, None
        return result
    insert_run(
        conn,
        run_id=run_id,
        source=run_source,
        harness=file_format,
        source_path=str(path),
        sha256=stored_sha,
        **aggregate,
    )
    result.benchmarks = distinct_values(conn, run_id, "benchmark")
    result.models = distinct_values(conn, run_id, "model")
    return result


def _ingest_results(
    conn: duckdb.DuckDBPyConnection, path: Path, ids: RunIds, source: str, metric: str | None
) -> FileResult:
    """An lm-eval results file: an aggregate-only run per task (each stored once per source), and the
    checkpoint its model is."""
    data = read_json_file(path)
    if not is_results_file(data):
        raise InputError(f"{path}: not an lm-eval results file (no 'results' by task with a 'config').")
    parsed = read_results(data, path, metric=metric)
    result = FileResult(str(path), "lm-eval", None, skipped_tasks=parsed.skipped_tasks)
    if not parsed.runs and parsed.covered_tasks:  # its samples files beside it carry every task
        result.skipped = True
        return result
    if not parsed.runs:
        raise InputError(f"{path}: holds no task results.")
    rows = [Aggregate(source, r.benchmark, r.model, r.scaffold, r.n_items, r.accuracy) for r in parsed.runs]
    _store_aggregate(conn, path, ids, result, rows)
    if parsed.series is not None and parsed.step is not None:
        conn.execute(
            f"{CHECKPOINTS.insert(('model', 'series', 'step'))} VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [parsed.model, parsed.series, parsed.step],
        )
    return result


def _ingest_header(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    ids: RunIds,
    source: str,
    headline: Headline,
    prices: Callable[[], PriceBook] | None,
) -> FileResult:
    """An Inspect log with no samples: one aggregate-only run from its header. Where its usage records no cost,
    each model's tokens (the evaluated model's, a grader's) are priced at that model's own price; a model with
    no price, or no token counts, leaves the cost unknown."""
    h = headline
    cost, version = h.recorded_cost, None
    if cost is None and prices is not None and h.usage:
        cost = usage_cost(prices(), h.usage, h.day)
        if cost is not None:
            from evalbudget.pricing import genai_prices_source

            version = genai_prices_source()
    result = FileResult(str(path), "inspect", None)
    row = Aggregate(source, h.task, h.model, h.scaffold, h.items, h.score, cost, version)
    _store_aggregate(conn, path, ids, result, [row])
    return result


def _ingest_record(
    conn: duckdb.DuckDBPyConnection, path: Path, ids: RunIds, source: str | None
) -> FileResult:
    """An Every Eval Ever aggregate record: one aggregate-only run, with its recorded cost."""
    data = read_json_file(path)
    if not is_eee_record(data):
        raise InputError(
            f"{path}: not an Every Eval Ever record ('schema_version', 'model_info', 'evaluation_results')."
        )
    run = read_record(data, path)
    result = FileResult(str(path), "eee", None)
    row = Aggregate(
        source or run.source, run.benchmark, run.model, run.scaffold, None, run.accuracy, run.total_cost_usd
    )
    _store_aggregate(conn, path, ids, result, [row])
    return result


RunIds = tuple[str, str | None]
"""(run id, the file's hash to keep on the run, or None when the same bytes are stored under another source)."""


@dataclass(frozen=True)
class Aggregate:
    """One aggregate-only run as a reader found it; stored once per (source, benchmark, model, scaffold)."""

    source: str
    benchmark: str
    model: str
    scaffold: str
    n_items: int | None
    accuracy: float
    total_cost_usd: float | None = None
    price_version: str | None = None
    """The price book that priced ``total_cost_usd`` from tokens; None where the source recorded it."""


def _store_aggregate(
    conn: duckdb.DuckDBPyConnection, path: Path, ids: RunIds, result: FileResult, rows: list[Aggregate]
) -> None:
    """Add the aggregate-only runs not stored before; the file's hash (if it is to be kept) goes on the first
    one added."""
    base, sha = ids
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _aggregate (n INTEGER, source VARCHAR, benchmark VARCHAR, model VARCHAR, "
        "scaffold VARCHAR, n_items INTEGER, accuracy DOUBLE, total_cost_usd DOUBLE, price_version VARCHAR)"
    )
    conn.executemany(
        "INSERT INTO _aggregate (n, source, benchmark, model, scaffold, n_items, accuracy, total_cost_usd, "
        "price_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[i, r.source, r.benchmark, r.model, r.scaffold, r.n_items, r.accuracy, r.total_cost_usd, r.price_version]
         for i, r in enumerate(rows)],
    )  # fmt: skip
    # a result is stored once per source: one stored before (from other bytes of the same file) is skipped
    conn.execute(
        """DELETE FROM _aggregate a WHERE EXISTS (SELECT 1 FROM runs r WHERE r.aggregate_only
        AND r.source = a.source AND r.benchmark = a.benchmark AND r.model = a.model AND r.scaffold = a.scaffold)"""
    )
    columns = ("run_id", "source", "harness", "source_path", "content_sha256", "imported_at", "aggregate_only",
               "benchmark", "model", "scaffold", "n_items", "accuracy", "total_cost_usd", "price_version")  # fmt: skip
    first = conn.execute("SELECT min(n) FROM _aggregate").fetchone()
    added = conn.execute(
        f"""{RUNS.insert(columns)}
        SELECT ? || '-' || n, source, ?, ?, CASE WHEN n = min(n) OVER () THEN ? END, ?, true,
            benchmark, model, scaffold, n_items, accuracy, total_cost_usd, price_version
        FROM _aggregate""",
        [base, result.format, str(path), sha, now_utc()],
    ).fetchone()
    conn.execute("DROP TABLE _aggregate")
    result.aggregate_runs = int(added[0]) if added else 0
    result.duplicates = len(rows) - result.aggregate_runs
    result.run_id = f"{base}-{first[0]}" if result.aggregate_runs and first else None
    result.skipped = result.aggregate_runs == 0
    result.benchmarks = sorted({r.benchmark for r in rows})
    result.models = sorted({r.model for r in rows})
