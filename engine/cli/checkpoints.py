"""`evalbudget checkpoints simulate | plan`: which checkpoints of a training run to evaluate, tried on past
series (simulate), and chosen for one run under a budget as a launchable plan (plan)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evalbudget.engine.cli.common import add_json_option, add_prices_option, add_store_option

NAME = "checkpoints"
HELP = "plan which checkpoints of a training run to evaluate, from past series' learning curves"
DESCRIPTION = (
    "Checkpoint series: `simulate` tries each strategy on the store's series, leaving one series out at a time "
    "(it is the new run, the others its history), and reports how well the unevaluated part of its learning "
    "curve is predicted at each budget. `plan` chooses for one run: which of its checkpoints, on how many of "
    "each task's items, under a budget, as a launchable plan with the curve error band the history predicts."
)
DEFAULT_GPU = "H100"


def _cost_options(parser: argparse.ArgumentParser) -> None:
    from evalbudget.engine.checkpoints import UTILISATION

    parser.add_argument(
        "--scaffold",
        default="",
        metavar="S",
        help="the runs' scaffold, e.g. 5-shot for lm-eval's few-shot runs",
    )
    parser.add_argument(
        "--gpu-type",
        default=DEFAULT_GPU,
        metavar="T",
        help=f"the GPU card costs are in (default {DEFAULT_GPU})",
    )
    parser.add_argument(
        "--params",
        metavar="N",
        help="parameters of a checkpoint (e.g. 1.4b); default: read from each series' name",
    )
    parser.add_argument(
        "--tokens-per-item",
        type=int,
        metavar="N",
        help="tokens one item puts through the model (default: per task)",
    )
    parser.add_argument(
        "--utilisation",
        type=float,
        default=UTILISATION,
        metavar="U",
        help=f"share of the card's BF16 throughput reached (default {UTILISATION})",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    add_store_option(parser, top=False)
    add_prices_option(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from evalbudget.engine.sim.checkpoints import DEFAULT_BUDGETS, NOISE_REPLICATES, STRATEGIES

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    simulate = actions.add_parser(
        "simulate",
        help="each strategy tried on the store's series, one series left out at a time",
        description="Leave-one-series-out: each series in turn is the new run and the others its history. "
        "Strategies: " + "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()) + ".",
    )
    simulate.add_argument("--benchmark", required=True, metavar="B", help="a task with checkpoint results")
    _cost_options(simulate)
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
        "--replicates",
        type=int,
        default=NOISE_REPLICATES,
        metavar="N",
        help=f"draws of the item sample where a share of items is run (default {NOISE_REPLICATES})",
    )
    add_json_option(simulate)
    plan = actions.add_parser(
        "plan",
        help="the checkpoints and items of one run to evaluate under a budget, written as a launchable plan",
        description="Choose which of a run's checkpoints to evaluate, and on how many of the task's items, with "
        "the curve error the store's other series predict for that choice. The plan launches like any other: "
        "each checkpoint is a model (NAME@stepN); map it to its weights with launch --model-map.",
    )
    plan.add_argument(
        "--benchmark",
        action="append",
        required=True,
        metavar="B",
        help="a task with checkpoint results; repeat it to plan several tasks under one budget (one plan each)",
    )
    _cost_options(plan)
    plan.add_argument(
        "--series", required=True, metavar="NAME", help="the run, e.g. EleutherAI/pythia-v1.1-160m"
    )
    plan.add_argument("--steps", metavar="LIST", help="its checkpoints' steps, e.g. 0,1000,2000,4000")
    plan.add_argument(
        "--every", type=int, metavar="N", help="a checkpoint every N steps from 0 (with --final-step)"
    )
    plan.add_argument("--final-step", type=int, metavar="N", help="the run's last training step")
    plan.add_argument("--budget", required=True, metavar="X", help="'20%%', '12gpu-h' or '$30' for this run")
    plan.add_argument(
        "--strategy",
        default="history",
        choices=tuple(STRATEGIES),
        help="how checkpoints are chosen (default history)",
    )
    plan.add_argument("--out", type=Path, metavar="FILE", help="write the plan here (JSON)")
    add_json_option(plan, "print the plan as JSON")


def _checks(args: argparse.Namespace) -> None:
    from evalbudget.engine.errors import InputError

    if getattr(args, "replicates", 1) < 1:
        raise InputError(f"--replicates {args.replicates} must be at least 1.")
    if not 0 < args.utilisation <= 1:
        raise InputError(f"--utilisation {args.utilisation:g} must be in (0, 1].")
    if args.tokens_per_item is not None and args.tokens_per_item < 1:
        raise InputError(f"--tokens-per-item {args.tokens_per_item} must be at least 1.")


def run(args: argparse.Namespace) -> int:
    return run_plan(args) if args.action == "plan" else run_simulate(args)


def run_plan(args: argparse.Namespace) -> int:
    from evalbudget.engine.checkpoints import parse_params
    from evalbudget.engine.cli.plan import check_writable
    from evalbudget.engine.errors import InputError
    from evalbudget.engine.plan import format_plan
    from evalbudget.engine.plan_checkpoints import CheckpointRequest, plan_tasks, planned_steps
    from evalbudget.engine.prices import gpu_card, load_price_book
    from evalbudget.engine.sim import parse_budget
    from evalbudget.engine.store import open_store

    _checks(args)
    request = CheckpointRequest(
        series=args.series,
        benchmark=args.benchmark[0],
        budget=parse_budget(args.budget),
        card=gpu_card(load_price_book(args.prices), args.gpu_type),
        steps=planned_steps(args.steps, args.every, args.final_step),
        final_step=args.final_step,
        scaffold=args.scaffold,
        strategy=args.strategy,
        params=parse_params(args.params) if args.params else None,
        tokens_per_item=args.tokens_per_item,
        utilisation=args.utilisation,
        seed=args.seed,
    )
    if args.out is not None:
        check_writable(args.out)
    with open_store(args.store) as store:
        plans = plan_tasks(store.conn, request, args.benchmark)
    # several tasks: a plan each, beside --out (plan.json -> plan-arc_easy.json, ...)
    paths = (
        [args.out]
        if args.out and len(plans) == 1
        else [args.out.with_name(f"{args.out.stem}-{p.benchmark}{args.out.suffix}") for p in plans]
        if args.out
        else []
    )
    for plan, path in zip(plans, paths, strict=False):
        try:
            path.write_text(plan.model_dump_json(indent=2) + "\n")
        except OSError as exc:
            raise InputError(f"--out {path}: cannot be written ({exc.strerror}).") from None
    if args.json:
        texts = [p.model_dump_json(indent=2) for p in plans]
        print(texts[0] if len(texts) == 1 else "[\n" + ",\n".join(texts) + "\n]")
        return 0
    print("\n\n".join(format_plan(p) for p in plans))
    for path in paths:
        print(f"\nwrote {path}" if len(paths) == 1 else f"wrote {path}")
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from evalbudget.engine.checkpoints import checkpoint_costs, load_series, parse_params
    from evalbudget.engine.prices import gpu_card, load_price_book
    from evalbudget.engine.sim import parse_budget
    from evalbudget.engine.sim.checkpoints import (
        DEFAULT_BUDGETS,
        STRATEGIES,
        format_checkpoint_report,
        simulate_checkpoints,
    )
    from evalbudget.engine.store import open_store

    _checks(args)
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
