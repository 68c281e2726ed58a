"""The command line as a user meets it: help, version, --store placement, the layering rule."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalbudget import engine
from tests.conftest import ROOT, run_cli


def test_version_and_help_list_every_subcommand() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("evalbudget ")
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    for command in ("info", "ingest", "prices", "whatif", "simulate", "frontier", "plan", "items", "launch"):
        assert f"    {command}" in help_text.stdout


def test_store_option_before_or_after_the_subcommand(store_path: Path) -> None:
    before = run_cli("--store", str(store_path), "info", "--json")
    after = run_cli("info", "--json", "--store", str(store_path))
    assert before.returncode == after.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(before.stdout)["store"] == str(store_path)


def test_default_store_lives_in_the_user_data_dir(isolated_home: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("info", "--json", env=isolated_home)
    assert result.returncode == 0, result.stderr
    expected = tmp_path / "data" / "evalbudget" / "store.duckdb"
    assert json.loads(result.stdout)["store"] == str(expected)
    assert expected.exists()


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("evalbudget")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ingest" in result.stdout


def test_the_cli_does_not_load_textual() -> None:
    code = (
        "import sys, evalbudget.engine, evalbudget.engine.cli, evalbudget.engine.ingest, evalbudget.engine.store\n"
        "import evalbudget.engine.info, evalbudget.pricing\n"
        "from evalbudget.engine.cli import build_parser\n"
        "build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext', 'plotext') or m.startswith('evalbudget.tui'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_pricing_imports_nothing_of_the_engine() -> None:
    code = (
        "import sys, evalbudget.pricing\n"
        "print(','.join(m for m in sys.modules if m.startswith(('evalbudget.engine', 'evalbudget.tui'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == ""


def test_engine_public_api_is_pinned() -> None:
    assert sorted(engine.__all__) == [
        "EvalbudgetError",
        "InputError",
        "Store",
        "StoreError",
        "StoreInfo",
        "StoreLockedError",
        "ingest_files",
        "latest_schema_version",
        "open_store",
        "store_info",
    ]
    for name in engine.__all__:
        assert hasattr(engine, name)


def test_the_launch_flags_and_the_app_form_come_from_one_model() -> None:
    """Every launch option is a CLI flag and an app field, built from LaunchOptions: none is declared twice."""
    from evalbudget.engine.cli import build_parser
    from evalbudget.engine.launch.options import LaunchOptions
    from evalbudget.tui.screens.launch import FORM_OPTIONS

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    launch = subparsers.choices["launch"]  # type: ignore[attr-defined]
    flags = {a.dest for a in launch._actions} - {"help", "plan", "json", "store"}
    assert flags == set(LaunchOptions.model_fields)
    assert set(FORM_OPTIONS) == set(LaunchOptions.model_fields) - {"backend"}


def test_no_cli_function_is_long() -> None:
    """The CLI is a module per command; no function in it runs past about 80 lines."""
    import ast

    from tests.conftest import ROOT

    long = []
    for path in (ROOT / "engine" / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    long.append(f"{path.name}:{node.name} ({length} lines)")
    assert long == []


@pytest.mark.parametrize("package", ["evalbudget.engine", "evalbudget.pricing"])
def test_every_public_name_loads_and_the_help_loads_no_price_data(package: str) -> None:
    """The packages load their public names when first used: each name in __all__ resolves, and starting the
    command line imports neither genai-prices nor pydantic (a tenth of a second each command)."""
    module = importlib.import_module(package)
    assert module.__all__ and all(getattr(module, name) is not None for name in module.__all__)
    unknown = "no_such_name"
    with pytest.raises(AttributeError, match=f"no attribute '{unknown}'"):
        getattr(module, unknown)
    probe = (
        "import sys; from evalbudget.engine.cli import build_parser; build_parser(only='ingest'); "
        "print(sorted(m for m in ('genai_prices', 'pydantic') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
