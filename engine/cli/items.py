"""`evalbudget items load`: prompts, targets and scorers the launcher can run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evalbudget.engine.cli.common import add_json_option, add_store_option

NAME = "items"
HELP = "items the launcher can run (prompts, targets, scorers)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="items_command", metavar="ACTION", required=True)
    load = actions.add_parser(
        "load",
        help="load items from JSONL: id, input, target, scorer (exact|includes|choice|numeric), choices, "
        "max_tokens, stratum",
    )
    add_store_option(load, top=False)
    load.add_argument("file", type=Path, metavar="FILE.jsonl")
    load.add_argument("--benchmark", required=True, metavar="B")
    add_json_option(load)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.items import load_items_file
    from evalbudget.engine.store import open_store

    with open_store(args.store, write=True, purpose="evalbudget items load") as store:
        loaded = load_items_file(store.conn, args.file, args.benchmark)
    if args.json:
        print(json.dumps(loaded.__dict__, indent=2))
    else:
        print(f"{args.file}: {loaded.added} new items and {loaded.updated} updated on {loaded.benchmark}")
    return 0
