"""`evalbudget whatif`: re-price past rollouts under another scenario."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalbudget.engine.cli.common import add_json_option, add_prices_option

NAME = "whatif"
HELP = "re-price past rollouts under other prices, discounts, cache hits, GPU rates or caps"
DESCRIPTION = "Baseline vs scenario cost and accuracy of the store's rollouts."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario", type=Path, metavar="FILE.toml", help="a scenario file (flags override it)"
    )
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN/OUT",
        help="new $/Mtok for a model (repeatable)",
    )
    parser.add_argument("--batch-discount", type=float, metavar="F", help="share off API costs, e.g. 0.5")
    parser.add_argument(
        "--cache-hit-rate", type=float, metavar="F", help="share of input tokens read from cache"
    )
    parser.add_argument(
        "--gpu", action="append", default=[], metavar="TYPE=RATE", help="$/GPU-hour (repeatable)"
    )
    parser.add_argument("--token-cap", type=int, metavar="N", help="per-rollout token cap")
    parser.add_argument("--cost-cap", type=float, metavar="USD", help="per-rollout cost cap")
    parser.add_argument("--time-cap", type=float, metavar="SECONDS", help="per-rollout wall-clock cap")
    parser.add_argument("--benchmark", metavar="B", help="only this benchmark")
    parser.add_argument(
        "--by", default="model", choices=["model", "benchmark", "scaffold"], help="row grouping"
    )
    parser.add_argument(
        "--reprice",
        action="store_true",
        help="price every rollout with tokens from the book, even recorded ones",
    )
    add_prices_option(parser)
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.prices import load_price_book
    from evalbudget.engine.store import open_store
    from evalbudget.engine.whatif import format_table, run_whatif
    from evalbudget.pricing import load_scenario, parse_gpu_flag, parse_price_flag

    scenario = load_scenario(
        args.scenario,
        prices=dict(parse_price_flag(text) for text in args.price),
        gpu_rates=dict(parse_gpu_flag(text) for text in args.gpu),
        batch_discount=args.batch_discount,
        cache_hit_rate=args.cache_hit_rate,
        token_cap=args.token_cap,
        cost_cap_usd=args.cost_cap,
        time_cap_s=args.time_cap,
    )
    book = load_price_book(args.prices)
    with open_store(args.store) as store:
        report = run_whatif(
            store.conn, book, scenario, benchmark=args.benchmark, by=args.by, reprice=args.reprice
        )
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    print(format_table(report))
    for note in report.notes:
        print(note)
    if report.unpriced_rollouts:
        print(f"{report.unpriced_rollouts:,} rollouts of unknown cost are not in the sums.")
    return 0
