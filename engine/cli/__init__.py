"""The headless command line: every subcommand prints data on stdout (``--json`` is stable) and diagnostics
on stderr, and exits non-zero with one clear sentence on failure.

One module per subcommand (NAME, HELP, ``add_arguments``, ``run``). The ``evalbudget`` console script
(``evalbudget.tui.main``) passes ``open_app``, which opens the Textual app when no subcommand is given;
``python -m evalbudget.engine`` has no app and prints its help instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from evalbudget.engine.cli import (
    checkpoints,
    compare,
    export,
    frontier,
    info,
    ingest,
    items,
    launch,
    plan,
    power,
    prices,
    results,
    runs,
    simulate,
    whatif,
)
from evalbudget.engine.cli.common import add_store_option
from evalbudget.engine.errors import EvalbudgetError

COMMANDS: tuple[ModuleType, ...] = (
    info,
    ingest,
    prices,
    whatif,
    simulate,
    frontier,
    plan,
    items,
    launch,
    results,
    compare,
    power,
    runs,
    checkpoints,
    export,
)


class _Version(argparse.Action):
    """--version, looked up only when asked for (reading the installed metadata takes a while)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("evalbudget")
        except PackageNotFoundError:
            found = "0+unknown"
        print(f"evalbudget {found}")
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the other subcommands are listed but their arguments not built
    (some need the strategy registry or the launch options, which are not free to import)."""
    parser = argparse.ArgumentParser(
        prog="evalbudget",
        description="A terminal budget explorer for AI evaluations. With no subcommand, opens the app.",
    )
    parser.add_argument("--version", action=_Version)
    add_store_option(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        sub = commands.add_parser(
            module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", None)
        )
        add_store_option(sub, top=False)
        if only is None or only == module.NAME:
            module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None, open_app: Callable[[Path | None], int] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    names = {module.NAME for module in COMMANDS}
    chosen = next((word for word in given if word in names), None)
    parser = build_parser(only=chosen or "")
    args = parser.parse_args(given)
    try:
        if args.command is None:
            if open_app is None:
                parser.print_help()
                return 0
            return open_app(args.store)
        return int(args.run(args))
    except EvalbudgetError as exc:
        print(f"evalbudget: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("evalbudget: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
