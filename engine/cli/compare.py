"""`evalbudget compare A B --benchmark B`: is A better than B, on the items both ran."""

from __future__ import annotations

import argparse
import json

from evalbudget.engine.cli.common import add_json_option

NAME = "compare"
HELP = "the paired difference of two models on the items both ran, with a 95%% interval and a p-value"
DESCRIPTION = (
    "Paired comparison of two models on a benchmark's shared items (repeated attempts averaged per item "
    "first): the difference in mean score, its 95% confidence interval (Student's t), and the two-sided "
    "p-value of no difference."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="a model (fuzzy names get a 'did you mean')")
    parser.add_argument("b", metavar="B", help="the model to compare it with")
    parser.add_argument("--benchmark", required=True, metavar="NAME")
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.stats import compare
    from evalbudget.engine.store import open_store

    with open_store(args.store) as store:
        result = compare(store.conn, args.benchmark, args.a, args.b)
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
        return 0
    verdict = (
        f"{result.a if result.difference > 0 else result.b} is better (p = {result.p_value:.2g})"
        if result.low > 0 or result.high < 0
        else f"no difference shown at 95% (p = {result.p_value:.2g})"
    )
    print(
        f"{result.benchmark}: {result.items:,} shared items"
        + (f", {result.repeats:.1f} attempts each on average" if result.repeats > 1 else "")
    )
    print(f"  {result.a}: {result.mean_a:.3f}")
    print(f"  {result.b}: {result.mean_b:.3f}")
    print(
        f"difference {result.difference:+.3f} (95%: {result.low:+.3f} to {result.high:+.3f}), standard error "
        f"{result.standard_error:.3f} paired ({result.unpaired_standard_error:.3f} unpaired): {verdict}"
    )
    if result.repeat_share is not None:
        print(f"repeat-to-repeat noise is {result.repeat_share:.0%} of the difference's variance")
    return 0
