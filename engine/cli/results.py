"""`evalbudget results`: the estimated leaderboard a launched plan gives, and how well such intervals hold."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalbudget.engine.cli.common import add_json_option
from evalbudget.engine.errors import InputError

NAME = "results"
HELP = "the estimated full-benchmark leaderboard of a launched plan: scores and ranks with intervals, tiers"
DESCRIPTION = (
    "For the runs of a plan: each candidate's estimated full-benchmark score (the plan's own estimator), a 90%% "
    "interval calibrated by replaying the strategy on the history, its rank with a rank interval, tiers the data "
    "cannot order, and for staged plans the stage that dropped it. With --coverage B instead of a plan: how "
    "well such intervals hold on B's past data (plans for random halves of its models, replayed)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "plan", type=Path, nargs="?", metavar="PLAN.json", help="the plan file that was launched"
    )
    parser.add_argument("--markdown", action="store_true", help="a table to paste into a report")
    parser.add_argument(
        "--coverage",
        metavar="B",
        help="check the intervals on benchmark B's past data instead (see --strategy, --splits, --budget); "
        "the verdicts are kept, and `results PLAN` shows no intervals for a strategy whose check missed",
    )
    parser.add_argument(
        "--strategy",
        action="append",
        metavar="S",
        help="with --coverage: the strategies to check (repeatable; default random, stratified, discriminative, "
        "anchor, irt, coarse-to-fine where they apply)",
    )
    parser.add_argument(
        "--splits", type=int, default=40, metavar="N", help="with --coverage: plans to replay"
    )
    parser.add_argument("--budget", default="10%", metavar="X", help="with --coverage: each plan's budget")
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.store import open_store

    if (args.plan is None) == (args.coverage is None):
        raise InputError("Give a plan file, or --coverage BENCHMARK (not both).")
    if args.coverage is not None:
        return _coverage(args)
    from evalbudget.engine.launch.setup import read_plan
    from evalbudget.engine.results import format_results, markdown_results, plan_results

    plan, _ = read_plan(args.plan)
    with open_store(args.store) as store:
        results = plan_results(store.conn, plan)
    if args.json:
        print(results.model_dump_json(indent=2))
    elif args.markdown:
        print(markdown_results(results))
    else:
        print(format_results(results))
    return 0


def _coverage(args: argparse.Namespace) -> int:
    import json
    import sys

    from evalbudget.engine.results import (
        COVERAGE_STRATEGIES,
        format_coverage,
        interval_coverage,
        record_check,
    )
    from evalbudget.engine.sim.data import load_benchmark
    from evalbudget.engine.sim.strategies import applicable_strategies, strategy_spec
    from evalbudget.engine.store import open_store

    if args.splits < 1:
        raise InputError(f"--splits {args.splits} must be 1 or more.")
    with open_store(args.store) as store:
        data = load_benchmark(store.conn, args.coverage)
    applicable = applicable_strategies(data, data.n_candidates - data.n_candidates // 2)
    names = args.strategy or [s for s in COVERAGE_STRATEGIES if s in applicable]
    for name in names:
        strategy_spec(name)  # an unknown name is refused by name
    checks = []
    for k, name in enumerate(names):
        if sys.stderr.isatty() and not args.json:
            print(f"\r[{k + 1}/{len(names)}] {name}".ljust(60), end="", file=sys.stderr, flush=True)
        checks.append(interval_coverage(data, name, budget=args.budget, splits=args.splits))
    if sys.stderr.isatty() and not args.json:
        print(file=sys.stderr)
    # kept, so that `results PLAN` shows no intervals for a strategy whose check missed the target
    with open_store(args.store, write=True, purpose="evalbudget results --coverage") as store:
        for check in checks:
            record_check(store.conn, check)
    if args.json:
        print(json.dumps([c.model_dump() for c in checks], indent=2))
    else:
        print(format_coverage(checks))
    return 0
