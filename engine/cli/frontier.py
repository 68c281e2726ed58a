"""`evalbudget frontier`: cost per item against accuracy, with the Pareto-optimal points."""

from __future__ import annotations

import argparse

from evalbudget.engine.cli.common import add_json_option
from evalbudget.engine.errors import InputError

NAME = "frontier"
HELP = "cost per item vs accuracy per (model, scaffold), with the Pareto-optimal points"
DESCRIPTION = (
    "Accuracy with a 95%% interval, cost per item and Pareto-optimality on one benchmark; aggregate-only runs "
    "(Aider) included. On benchmarks with repeats, the variance split and repeats needed."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, metavar="B")
    parser.add_argument(
        "--target-halfwidth",
        type=float,
        default=0.05,
        metavar="W",
        help="for repeats: target 95%% half-width",
    )
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.frontier import format_frontier, frontier
    from evalbudget.engine.store import open_store

    if not 0 < args.target_halfwidth < 1:
        raise InputError(f"--target-halfwidth {args.target_halfwidth:g} must be between 0 and 1 (e.g. 0.05).")
    with open_store(args.store) as store:
        result = frontier(store.conn, args.benchmark, args.target_halfwidth)
    print(result.model_dump_json(indent=2) if args.json else format_frontier(result))
    return 0
