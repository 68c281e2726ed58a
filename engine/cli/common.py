"""What the subcommands share: the store and prices options, JSON output, and the table helper."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_store_option(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before or after the subcommand; the subcommand's copy must not reset the top-level one.
    parser.add_argument(
        "--store",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        metavar="PATH",
        help="the DuckDB store (default: $EVALBUDGET_STORE, else a file in the user data dir; "
        "created from the bundled sample runs if missing)",
    )


def add_prices_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="a prices.toml to use instead of the one in the config dir ($EVALBUDGET_CONFIG_DIR)",
    )


def add_json_option(parser: argparse.ArgumentParser, help: str = "machine-readable output") -> None:
    parser.add_argument("--json", action="store_true", help=help)
