"""`evalbudget power --benchmark B --difference D`: how many items tell two models D apart."""

from __future__ import annotations

import argparse
import json

from evalbudget.engine.cli.common import add_json_option

NAME = "power"
HELP = "how many items (and dollars per candidate) tell two models a given difference apart"
DESCRIPTION = (
    "Items a paired comparison needs to tell two models DIFFERENCE apart (a share: 0.02 is two points) with "
    "the given power at the given significance, from the spread of the per-item differences between the "
    "store's models on the benchmark, and what those items cost per candidate at the store's mean cost."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, metavar="NAME")
    parser.add_argument("--difference", required=True, type=float, metavar="D", help="e.g. 0.02 (two points)")
    parser.add_argument("--power", type=float, default=0.8, metavar="P", help="default 0.8")
    parser.add_argument("--alpha", type=float, default=0.05, metavar="A", help="two-sided; default 0.05")
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.stats import power
    from evalbudget.engine.store import open_store

    with open_store(args.store) as store:
        result = power(store.conn, args.benchmark, args.difference, target_power=args.power, alpha=args.alpha)
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
        return 0
    cost = (
        f", about ${result.usd_per_candidate:,.2f} per candidate"
        if result.usd_per_candidate is not None
        else " (the benchmark has no cost data)"
    )
    print(
        f"{result.benchmark}: {result.items_needed:,} items to tell two models {result.difference:g} apart with "
        f"{result.power:.0%} power at alpha {result.alpha:g}{cost}"
    )
    print(
        f"from the spread of per-item differences: sd {result.sd_difference:.3f} (median over {result.pairs:,} "
        f"model pairs); the benchmark has {result.items_available:,} items"
        + (
            ": more than it has, so repeats or a bigger difference are needed"
            if result.items_needed > result.items_available
            else ""
        )
    )
    return 0
