"""`evalbudget export --parquet DIR`: the store's results as hive-partitioned Parquet, to share or query."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evalbudget.engine.cli.common import add_json_option

NAME = "export"
HELP = "write the store's results as hive-partitioned Parquet (by benchmark and model), to share or query"
DESCRIPTION = (
    "Write the store's rollouts (partitioned by benchmark and model), items (by benchmark), runs, checkpoint "
    "series and release dates under DIR as Parquet, with a manifest. DuckDB, Spark or Trino can query the "
    "folder in place, and `evalbudget ingest DIR` reads it into another store, adding only what that store "
    "lacks."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parquet", required=True, type=Path, metavar="DIR", help="a new (or empty) folder")
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.export import export_store
    from evalbudget.engine.store import open_store

    with open_store(args.store) as store:
        report = export_store(store.conn, args.parquet)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
        return 0
    names = {"checkpoints": "checkpoints", "models": "release dates"}
    counts = ", ".join(f"{n:,} {names.get(table, table)}" for table, n in report.rows.items())
    print(f"wrote {report.folder}: {counts}")
    return 0
