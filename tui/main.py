"""The ``evalbudget`` command: the engine's command line, plus the app when no subcommand is given.

The entry point lives here, not in the engine, so that the engine never imports the app; Textual is
imported only when the app opens, so scripts and CI that use the subcommands never load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evalbudget.engine import cli


def open_app(store: Path | None) -> int:
    from evalbudget.tui.app import run_app

    return run_app(store)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, open_app=open_app)
