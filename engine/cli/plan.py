"""`evalbudget plan`: the strategy with the best simulated fidelity that fits a budget, as a plan file."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalbudget.engine.cli.common import add_json_option, add_prices_option
from evalbudget.engine.cli.simulate import BUDGET_HELP
from evalbudget.engine.errors import InputError

NAME = "plan"
HELP = "the strategy with the best simulated fidelity that fits a budget, as a plan file to launch"
DESCRIPTION = (
    "Pick the strategy and slice (stages, models, items, repeats) with the best simulated fidelity whose "
    "predicted cost fits the budget, and write it as a plan."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from evalbudget.engine.plan import OBJECTIVES
    from evalbudget.engine.sim.simulate import SPLITS
    from evalbudget.engine.sim.strategies import REGISTRY

    parser.add_argument("--benchmark", required=True, metavar="B")
    parser.add_argument("--budget", required=True, metavar="X", help=BUDGET_HELP)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--candidates",
        metavar="M1,M2,...",
        help=(
            "models the store holds on the benchmark (or model@scaffold), and models new to it as new:NAME "
            "(costed from its token counts x the model's price); a near miss gets a 'did you mean'"
        ),
    )
    who.add_argument("--all", action="store_true", help="every model the store holds on the benchmark")
    parser.add_argument(
        "--objective",
        default="ranking",
        choices=OBJECTIVES,
        help="what the plan is best at: the whole ranking (Kendall tau), the winner (top-1 recovery), the scores "
        "(MAE), or telling apart models at least --difference apart; default ranking",
    )
    parser.add_argument(
        "--difference",
        type=float,
        metavar="D",
        help="with --objective separate: the score difference to tell apart (e.g. 0.02 for two points)",
    )
    parser.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="S",
        help=f"choose only among these ({', '.join(REGISTRY)}, repeats:K); repeatable (default: all that apply)",
    )
    parser.add_argument("--out", type=Path, metavar="plan.json", help="write the plan here")
    parser.add_argument("--gpu-type", metavar="T", help="the GPU a gpu-h budget is in")
    parser.add_argument(
        "--cost-like",
        metavar="MODEL",
        help=(
            "where the benchmark has no token counts, new candidates cost each item like this stored model, "
            "scaled by the ratio of their prices (stated in the plan)"
        ),
    )
    parser.add_argument(
        "--holdout-split",
        choices=("auto", *SPLITS),
        default="auto",
        help="how fidelity is simulated: history models held out at random, the strongest held out, or the "
        "newest by release date; default auto: random when the store holds every candidate, else (new models, "
        "usually new frontier models) the strongest",
    )
    parser.add_argument("--replicates", type=int, default=200, metavar="N")
    parser.add_argument("--seed", type=int, default=0, metavar="N")
    add_prices_option(parser)
    add_json_option(parser, "print the plan as JSON")


def check_writable(path: Path) -> None:
    """A plan file's path must name a file in an existing folder (checked before any planning work)."""
    if path.is_dir():
        raise InputError(
            f"--out {path} is a folder; name the plan file to write (e.g. {path / 'plan.json'})."
        )
    if not path.parent.is_dir():
        raise InputError(f"--out {path}: the folder {path.parent} does not exist.")


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.plan import format_plan
    from evalbudget.engine.plan_request import PlanRequest, plan_benchmark
    from evalbudget.engine.prices import load_price_book
    from evalbudget.engine.sim import parse_budget
    from evalbudget.engine.store import open_store

    candidates = None if args.all else [c.strip() for c in args.candidates.split(",") if c.strip()]
    request = PlanRequest(
        benchmark=args.benchmark,
        budget=parse_budget(args.budget),
        candidates=None if candidates is None else list(dict.fromkeys(candidates)),
        objective=args.objective,
        difference=args.difference,
        strategies=args.strategy,
        gpu_type=args.gpu_type,
        cost_like=args.cost_like,
        split=args.holdout_split,
        replicates=args.replicates,
        seed=args.seed,
    )
    if args.out is not None:
        check_writable(args.out)
    book = load_price_book(args.prices)
    with open_store(args.store) as store:
        plan = plan_benchmark(store.conn, request, book)
    if args.out:
        try:
            args.out.write_text(plan.model_dump_json(indent=2) + "\n")
        except OSError as exc:
            raise InputError(f"--out {args.out}: cannot be written ({exc.strerror}).") from None
    print(plan.model_dump_json(indent=2) if args.json else format_plan(plan))
    if args.out and not args.json:
        print(f"\nwrote {args.out}")
    return 0
