"""`evalbudget prices`: the price card each model resolves to."""

from __future__ import annotations

import argparse

from evalbudget.engine.cli.common import add_json_option, add_prices_option

NAME = "prices"
HELP = "the price card each model resolves to, and the models that match none"
DESCRIPTION = "Show the resolved price card of each named model (default: every model in the store)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL", help="model names as the store holds them")
    add_prices_option(parser)
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from evalbudget.engine.prices import load_price_book, prices_report, store_models
    from evalbudget.engine.store import open_store
    from evalbudget.engine.tables import Col, render_table

    book = load_price_book(args.prices)
    with open_store(args.store) as store:
        known = store_models(store.conn)
    wanted = {name: known.get(name) for name in args.models} if args.models else known
    report = prices_report(book, wanted)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    columns = [
        Col("model", max_width=44),
        Col("matched id", max_width=28),
        Col("provider", max_width=11),
        Col("in $/M", True),
        Col("out $/M", True),
        Col("cache $/M", True),
        Col("matched by", max_width=48),
        Col("source"),
    ]
    rows = [
        (
            m.model,
            m.matched_id or "",
            m.provider or "",
            f"{m.input_mtok:g}",
            f"{m.output_mtok:g}",
            "-" if m.cache_read_mtok is None else f"{m.cache_read_mtok:g}",
            m.how if m.rule is None else f"{m.how}: {m.rule}",
            (m.source or "") + (" (base tier)" if m.tiered else ""),
        )
        for m in report.models
    ]
    print(render_table(columns, rows))
    if report.unmatched:
        print(
            f"\nunmatched ({len(report.unmatched)}; their rollouts stay unpriced, never $0): "
            + ", ".join(report.unmatched)
        )
        for model, hint in report.hints.items():
            print(f"  {model}: {hint}")
    return 0
