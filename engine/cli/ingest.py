"""`evalbudget ingest`: add eval results to the store."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evalbudget.engine.cli.common import add_json_option, add_prices_option

if TYPE_CHECKING:
    from evalbudget.engine.ingest import FileResult
    from evalbudget.pricing import PriceBook

NAME = "ingest"
HELP = "add eval results (table, Inspect, lm-eval, HELM, Every Eval Ever, HAL) to the store"
DESCRIPTION = (
    "Add eval results to the store in one transaction (or one per file with --keep-going); what is already "
    "stored adds nothing."
)
FORMATS = ["auto", "table", "eee", "inspect", "lm-eval", "helm", "hal"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to ingest")
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMATS,
        help="the input format (default: told from each file's name and content)",
    )
    parser.add_argument("--source", help="a name for where these results came from")
    parser.add_argument("--stratum", metavar="COLUMN", help="table column that fills the items' stratum")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="each file its own transaction: a bad file is listed (path and reason) and the rest are stored; "
        "exit status 2 when a file was left out",
    )
    parser.add_argument(
        "--metric",
        metavar="NAME",
        help="lm-eval and HELM: the metric that scores each task or run (default: lm-eval's first of acc, "
        "exact_match, acc_norm, mc2, ... in [0, 1]; HELM's main metric of the run group)",
    )
    parser.add_argument(
        "--split",
        help="HELM: the split whose instances are read (default: the suite's main split, else test)",
    )
    parser.add_argument(
        "--benchmark", metavar="NAME", help="HAL: the benchmark, where an upload file does not name it"
    )
    parser.add_argument(
        "--model", metavar="NAME", help="HAL: the model, where an upload file does not name it"
    )
    add_prices_option(parser)
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.digest import forget_ahead, hash_ahead

    hash_ahead(args.paths)  # on a thread, while DuckDB is imported and the store opened
    try:
        return _run(args)
    finally:
        forget_ahead()


def _run(args: argparse.Namespace) -> int:
    from evalbudget.engine.ingest import FailedFile, ReadOptions, ingest_files
    from evalbudget.engine.paths import default_store_path
    from evalbudget.engine.store import open_store

    show_progress = sys.stderr.isatty() and not args.json

    def progress(index: int, total: int, path: Path) -> None:
        if show_progress and total > 1:
            print(f"\r[{index + 1}/{total}] {path}"[:120].ljust(120), end="", file=sys.stderr, flush=True)

    # the price book is loaded only when a new run has tokens but no cost; a --prices file is checked first
    @functools.cache
    def prices() -> PriceBook:
        from evalbudget.engine.prices import load_price_book

        return load_price_book(args.prices)

    if args.prices is not None:
        prices()
    failed: list[FailedFile] | None = [] if args.keep_going else None
    with open_store(args.store or default_store_path(), write=True, purpose="evalbudget ingest") as store:
        results = ingest_files(
            store.conn,
            args.paths,
            fmt=args.format,
            source=args.source,
            options=ReadOptions(
                stratum=args.stratum,
                metric=args.metric,
                split=args.split,
                benchmark=args.benchmark,
                model=args.model,
            ),
            on_file=progress,
            prices=prices,
            failed=failed,
        )
    if show_progress and len(results) > 1:
        print(file=sys.stderr)
    if args.json:
        summary = {
            "files": [r.__dict__ for r in results],
            "rollouts_added": sum(r.rollouts for r in results),
            "items_added": sum(r.items for r in results),
            "aggregate_runs_added": sum(r.aggregate_runs for r in results),
            "duplicate_rollouts": sum(r.duplicates for r in results),
            "unchanged_files": sum(r.skipped for r in results),
            "priced_rollouts": sum(r.priced for r in results),
            "skipped_files": [f.__dict__ for f in failed or []],
        }
        print(json.dumps(summary, indent=2))
    else:
        _print_results(results)
    for f in failed or []:
        print(f"evalbudget: left out {f.reason}", file=sys.stderr)
    return 2 if failed else 0


def _print_results(results: list[FileResult]) -> None:
    for r in results:
        if r.format == "export":
            print(
                f"{r.path}: nothing the store lacks; nothing added"
                if r.skipped
                else f"{r.path}: {r.rollouts:,} rollouts and {r.aggregate_runs:,} aggregate runs (export), "
                f"{r.items:,} new items, {len(r.benchmarks):,} benchmarks, {len(r.models):,} models"
            )
            continue
        if r.skipped and r.run_id is not None:
            print(f"{r.path}: already in the store (run {r.run_id}); nothing added")
            continue
        if r.skipped and r.format == "lm-eval" and not r.duplicates:
            print(f"{r.path}: its tasks are read from the samples files beside it; nothing added")
            continue
        if r.skipped:
            what = "rollouts"
            if not r.rollouts and r.format in ("lm-eval", "eee"):
                what = "task results" if r.format == "lm-eval" else "aggregate runs"
            print(f"{r.path}: its {r.duplicates:,} {what} are already in the store; nothing added")
            continue
        if r.aggregate_runs:
            named = ", ".join(r.skipped_tasks[:3]) + (
                f" and {len(r.skipped_tasks) - 3} more" if len(r.skipped_tasks) > 3 else ""
            )
            skipped = f"; no score in [0, 1] for {named}" if r.skipped_tasks else ""
            print(
                f"{r.path}: {r.aggregate_runs:,} task results ({r.format}, aggregate), model {r.models[0]}{skipped}"
            )
            continue
        priced = f", {r.priced:,} priced from tokens" if r.priced else ""
        priced += f", {r.duplicates:,} already stored or repeated in the file" if r.duplicates else ""
        print(
            f"{r.path}: {r.rollouts:,} rollouts ({r.format}{priced}), {r.items:,} new items, "
            f"benchmarks {', '.join(r.benchmarks)}; models {', '.join(r.models[:5])}"
            f"{' ...' if len(r.models) > 5 else ''}"
        )
