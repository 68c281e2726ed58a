"""`evalbudget launch`: run a plan under a hard spend cap, resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalbudget.engine.cli.common import add_json_option

NAME = "launch"
HELP = "run a plan on an OpenAI-compatible endpoint (or replay it from the store) under a hard spend cap"
DESCRIPTION = (
    "Run a plan's stages, never starting a request that could take spend past --max-spend; every finished "
    "rollout is committed at once, and running the same launch again runs only what is missing."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from evalbudget.engine.launch.options import add_launch_arguments

    parser.add_argument("plan", type=Path, metavar="PLAN.json")
    add_launch_arguments(parser)
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from evalbudget.engine.launch import EXIT_BUDGET_EXHAUSTED, Launcher, LaunchReport, launch_id
    from evalbudget.engine.launch.options import LaunchOptions, launch_options
    from evalbudget.engine.launch.ray_pool import describe_cluster
    from evalbudget.engine.launch.setup import check_model_map, make_backend, read_plan, spend_cap
    from evalbudget.engine.store import open_store

    plan, plan_text = read_plan(args.plan)
    options = launch_options({name: getattr(args, name) for name in LaunchOptions.model_fields})
    check_model_map(options, plan)
    max_spend = spend_cap(plan, options.max_spend)
    run_id = launch_id(plan_text, options.backend, options.model_map, options.endpoint)
    with open_store(args.store, write=True, purpose=f"evalbudget launch {args.plan}") as store:
        backend = make_backend(store.conn, plan, run_id, options)
        launcher = Launcher(
            store.conn,
            plan,
            backend,
            run_id=run_id,
            source=str(args.plan),
            max_spend=max_spend,
            concurrency=options.in_flight,
        )

        async def main_loop() -> LaunchReport:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, launcher.cancel)
            loop.add_signal_handler(signal.SIGTERM, launcher.cancel)
            return await launcher.run()

        report = asyncio.run(main_loop())
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        cap = f" of ${max_spend:,.4f}" if max_spend is not None else ""
        print(
            f"{report.status}: {report.completed} rollouts recorded, {report.failed} failed, "
            f"{report.skipped_existing} already recorded, spend ${report.spend_usd:,.4f}{cap} (run {report.run_id})"
        )
        if report.cluster:
            print(describe_cluster(report.cluster))
        if report.unsettled_usd:
            print(
                f"${report.unsettled_usd:,.4f} of it is charged at worst case: attempts whose usage is unknown"
            )
        if report.recovered_usd:
            print(
                f"${report.recovered_usd:,.4f} charged at worst case for requests a killed launch left in flight"
            )
        if report.overrun_usd:
            print(
                f"the provider billed ${report.overrun_usd:,.4f} past the reserved worst case; nothing new started"
            )
        if report.plan_spent_usd > report.spend_usd + 1e-12:
            print(f"the plan's runs have spent ${report.plan_spent_usd:,.4f} in all (the cap is the plan's)")
        if report.missing:
            print(f"{report.missing} units have no rollout in the store to replay (reported, not invented)")
    for error in report.errors:
        print(f"evalbudget: a request failed: {error}", file=sys.stderr)
    if report.status in ("budget_exhausted", "provider_overrun"):
        return EXIT_BUDGET_EXHAUSTED
    if report.status == "cancelled":
        return 130
    return 1 if report.status == "failed" else 0
