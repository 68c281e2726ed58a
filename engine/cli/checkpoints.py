"""`evalbudget checkpoints simulate`: which checkpoints of a training run to evaluate, tried on past series."""

from __future__ import annotations

import argparse
import json

from evalbudget.engine.cli.common import add_json_option, add_prices_option

NAME = "checkpoints"
HELP = "plan which checkpoints of a training run to evaluate, from past series' learning curves"
DESCRIPTION = (
    "Checkpoint series: `simulate` tries each strategy on the store's series, leaving one series out at a time "
    "(it is the new run, the others its history), and reports how well the unevaluated part of its learning "
    "curve is predicted at each budget."
)
DEFAULT_GPU = "H100"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from evalbudget.engine.checkpoints import UTILISATION
    from evalbudget.engine.sim.checkpoints import DEFAULT_BUDGETS, NOISE_REPLICATES, STRATEGIES

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    simulate = actions.add_parser(
        "simulate",
        help="each strategy tried on the store's series, one series left out at a time",
        description="Leave-one-series-out: each series in turn is the new run and the others its history. "
        "Strategies: " + "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()) + ".",
    )
    simulate.add_argument("--benchmark", required=True, metavar="B", help="a task with checkpoint results")
    simulate.add_argument(
        "--scaffold",
        default="",
        metavar="S",
        help="the runs' scaffold, e.g. 5-shot for lm-eval's few-shot runs",
    )
    simulate.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="X",
        help="'20%%' of a series' full evaluation, '12gpu-h' or '$30' per series (repeatable; default "
        + ", ".join(b.replace("%", "%%") for b in DEFAULT_BUDGETS)
        + ")",
    )
    simulate.add_argument(
        "--strategy", action="append", default=[], metavar="S", help=f"{', '.join(STRATEGIES)} (repeatable)"
    )
    simulate.add_argument(
        "--gpu-type",
        default=DEFAULT_GPU,
        metavar="T",
        help=f"the GPU card costs are in (default {DEFAULT_GPU})",
    )
    simulate.add_argument(
        "--params",
        metavar="N",
        help="parameters of a checkpoint (e.g. 1.4b); default: read from each series' name",
    )
    simulate.add_argument(
        "--tokens-per-item",
        type=int,
        metavar="N",
        help="tokens one item puts through the model (default: per task)",
    )
    simulate.add_argument(
        "--utilisation",
        type=float,
        default=UTILISATION,
        metavar="U",
        help=f"share of the card's BF16 throughput reached (default {UTILISATION})",
    )
    simulate.add_argument(
        "--replicates",
        type=int,
        default=NOISE_REPLICATES,
        metavar="N",
        help=f"draws of the item sample where a share of items is run (default {NOISE_REPLICATES})",
    )
    simulate.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    add_prices_option(simulate)
    add_json_option(simulate)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.checkpoints import checkpoint_costs, load_series, parse_params
    from evalbudget.engine.errors import InputError
    from evalbudget.engine.prices import gpu_card, load_price_book
    from evalbudget.engine.sim import parse_budget
    from evalbudget.engine.sim.checkpoints import (
        DEFAULT_BUDGETS,
        STRATEGIES,
        format_checkpoint_report,
        simulate_checkpoints,
    )
    from evalbudget.engine.store import open_store

    if args.replicates < 1:
        raise InputError(f"--replicates {args.replicates} must be at least 1.")
    if not 0 < args.utilisation <= 1:
        raise InputError(f"--utilisation {args.utilisation:g} must be in (0, 1].")
    if args.tokens_per_item is not None and args.tokens_per_item < 1:
        raise InputError(f"--tokens-per-item {args.tokens_per_item} must be at least 1.")
    budgets = [parse_budget(text) for text in (args.budget or DEFAULT_BUDGETS)]
    card = gpu_card(load_price_book(args.prices), args.gpu_type)
    with open_store(args.store) as store:
        data = load_series(store.conn, args.benchmark, scaffold=args.scaffold)
    costs = checkpoint_costs(
        data,
        budgets,
        card,
        params=parse_params(args.params) if args.params else None,
        tokens=args.tokens_per_item,
        utilisation=args.utilisation,
    )
    report = simulate_checkpoints(
        data,
        strategies=args.strategy or list(STRATEGIES),
        budgets=[b.label() for b in budgets],
        shares=costs.shares,
        gpu_hours_per_checkpoint=costs.gpu_hours_per_checkpoint,
        replicates=args.replicates,
        seed=args.seed,
    )
    print(
        json.dumps(report.as_json(), indent=2)
        if args.json
        else format_checkpoint_report(report, card.gpu_type)
    )
    return 0
