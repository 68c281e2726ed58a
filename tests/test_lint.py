"""ruff, mypy and the import contracts are part of the suite, so a red lint fails CI like a red test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
PACKAGE_FOLDERS = ("engine", "pricing", "tui", "sample_runs")


def test_ruff_check_and_format() -> None:
    check = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def link_installed_shape() -> Path:
    """build/typecheck/evalbudget/{engine,...} as links to the repository's folders: the package's installed
    shape, which mypy (unable to follow setuptools' editable finder) reads through ``mypy_path``."""
    package = ROOT / "build" / "typecheck" / "evalbudget"
    package.mkdir(parents=True, exist_ok=True)
    for folder in PACKAGE_FOLDERS:
        link = package / folder
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", "..", folder))
    return package.parent


def test_mypy() -> None:
    link_installed_shape()
    result = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found in" in result.stdout
    checked = int(result.stdout.rsplit(" in ", 1)[1].split()[0])
    # every module of the package was checked (not skipped as an unfollowable import); mypy counts the
    # `evalbudget` namespace itself too
    assert checked >= sum(len(list((ROOT / f).rglob("*.py"))) for f in PACKAGE_FOLDERS)


def test_import_contracts() -> None:
    """tui -> engine -> pricing; nothing imports the app; the engine never loads textual; pricing is pure;
    simulation and planning never import the launcher (pyproject.toml's [tool.importlinter])."""
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_sql_in_the_app() -> None:
    """The app asks the engine; it holds no SQL of its own."""
    import re

    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b|\.execute\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "tui").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if sql.search(line)
    ]
    assert offenders == []
