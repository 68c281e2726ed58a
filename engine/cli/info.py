"""`evalbudget info`: what the store holds."""

from __future__ import annotations

import argparse

from evalbudget.engine.cli.common import add_json_option

NAME = "info"
HELP = "what the store holds: rollouts, models, benchmarks, cost"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.info import store_info
    from evalbudget.engine.store import open_store, schema_version
    from evalbudget.engine.tables import Col, money, render_table

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
        print(
            f"            ${info.aggregate_cost_usd:,.2f} in aggregate-only runs' totals (recorded, or priced from their usage)"
        )
    if info.checkpoint_series:
        steps = sum(s.checkpoints for s in info.checkpoint_series)
        print(f"series      {len(info.checkpoint_series):,} checkpoint series, {steps:,} checkpoints")
    print()
    columns = [
        Col("benchmark", max_width=32),
        Col("models", True),
        Col("items", True),
        Col("rollouts", True),
        Col("cost $", True),
        Col("unpriced", True),
        Col("agg runs", True),
        Col("agg cost $", True),
    ]
    rows = [
        (
            r.benchmark,
            r.models,
            r.items,
            r.rollouts,
            money(r.cost_usd) if r.rollouts else "",
            r.unpriced_rollouts,
            r.aggregate_runs,
            money(r.aggregate_cost_usd) if r.aggregate_runs else "",
        )
        for r in info.by_benchmark
    ]
    print(render_table(columns, rows))
    return 0
