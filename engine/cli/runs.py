"""`evalbudget runs`: the store's runs (ingested files and launches); leave one out of the history, take it
back in, or delete it."""

from __future__ import annotations

import argparse
import json
import sys

from evalbudget.engine.cli.common import add_json_option
from evalbudget.engine.errors import InputError

NAME = "runs"
HELP = "list runs; exclude one from the history, include it again, or delete it"
DESCRIPTION = (
    "List the store's runs (ingested files and launches), newest first. An excluded run keeps its rows but is "
    "no history: simulation, the frontier and replay leave it out. Deleting removes its rollouts."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=("list", "exclude", "include", "delete"),
        help="(default: list)",
    )
    parser.add_argument(
        "run_id", nargs="?", metavar="RUN", help="the run (as listed) to exclude, include or delete"
    )
    parser.add_argument(
        "--yes", action="store_true", help="delete without asking (needed when not at a terminal)"
    )
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.runs import delete_run, list_runs, set_excluded
    from evalbudget.engine.store import open_store
    from evalbudget.engine.tables import Col, money, render_table

    if args.action == "list":
        with open_store(args.store) as store:
            runs = list_runs(store.conn)
        if args.json:
            print(json.dumps([{**r.__dict__, "imported_at": str(r.imported_at)} for r in runs], indent=2))
            return 0
        # the run id last and whole: it is what exclude, include and delete take
        header = [
            Col("source", max_width=36),
            Col("harness"),
            Col("benchmarks", max_width=24),
            Col("rollouts", True),
            Col("spend $", True),
            Col("history"),
            Col("run"),
        ]
        rows = [
            (
                r.source,
                r.harness,
                ", ".join(r.benchmarks),
                r.rollouts,
                money(r.spend_usd),
                "excluded" if r.excluded else "yes",
                r.run_id,
            )
            for r in runs
        ]
        print(render_table(header, rows))
        return 0
    if not args.run_id:
        raise InputError(f"runs {args.action} needs the run to {args.action} (see evalbudget runs).")
    if args.action == "delete" and not args.yes:
        if not sys.stdin.isatty():
            raise InputError("runs delete removes the run's rollouts for good: add --yes to confirm.")
        answer = input(f"Delete run {args.run_id} and its rollouts? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    with open_store(args.store, write=True, purpose=f"evalbudget runs {args.action}") as store:
        if args.action == "delete":
            gone = delete_run(store.conn, args.run_id)
            message = f"Deleted run {args.run_id} and its {gone:,} rollouts."
        else:
            set_excluded(store.conn, args.run_id, args.action == "exclude")
            message = f"Run {args.run_id} is {'left out of' if args.action == 'exclude' else 'back in'} the history."
    if args.json:
        print(json.dumps({"run_id": args.run_id, "action": args.action}))
    else:
        print(message)
    return 0
