"""`evalbudget simulate`: each strategy replayed on past data."""

from __future__ import annotations

import argparse

from evalbudget.engine.cli.common import add_json_option, add_prices_option

NAME = "simulate"
HELP = "what each strategy would have cost on past data, and how faithfully it would have ranked the models"
DESCRIPTION = "Replay evaluation strategies on a benchmark's stored results, many times, under each budget."
BUDGET_HELP = "'$50', '50usd', '12gpu-h' or '10%%'"


def strategy_help() -> str:
    from evalbudget.engine.sim.strategies import REGISTRY

    return f"{', '.join(REGISTRY)}, repeats:K, or all (default: all that apply); repeatable"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from evalbudget.engine.sim.simulate import SPLITS

    parser.add_argument("--benchmark", required=True, metavar="B", help="a benchmark with per-rollout data")
    parser.add_argument("--strategy", action="append", default=[], metavar="S", help=strategy_help())
    parser.add_argument(
        "--budget", action="append", default=[], metavar="X", help=f"{BUDGET_HELP} (repeatable; default 10%%)"
    )
    parser.add_argument("--gpu-type", metavar="T", help="the GPU a gpu-h budget is in (e.g. H100)")
    parser.add_argument(
        "--holdout-models",
        type=float,
        metavar="F",
        help="share of models to rank in each replicate; the rest are the history that learning strategies see",
    )
    parser.add_argument(
        "--holdout-split",
        choices=SPLITS,
        default="random",
        help="which models are held out: a random share, the strongest by full score (new frontier models "
        "planned for with weaker ones' history), or the newest by release date; default random",
    )
    parser.add_argument("--replicates", type=int, default=200, metavar="N", help="replicates (default 200)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    add_prices_option(parser)
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.prices import gpu_card, load_price_book
    from evalbudget.engine.sim import format_report, load_benchmark, parse_budget, simulate
    from evalbudget.engine.store import open_store

    budgets = [parse_budget(text) for text in (args.budget or ["10%"])]
    gpu = gpu_card(load_price_book(args.prices), args.gpu_type) if args.gpu_type else None
    with open_store(args.store) as store:
        data = load_benchmark(store.conn, args.benchmark)
    report = simulate(
        data,
        strategies=args.strategy or ["all"],
        budgets=budgets,
        holdout=args.holdout_models,
        replicates=args.replicates,
        seed=args.seed,
        gpu=gpu,
        split=args.holdout_split,
    )
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0
