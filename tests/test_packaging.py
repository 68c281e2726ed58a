"""The wheel installs one import package, `evalbudget`, and nothing else at the top of site-packages."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("evalbudget-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"evalbudget"}
    folders = {"/".join(name.split("/")[:2]) for name in names if name.startswith("evalbudget/")}
    assert folders == {
        "evalbudget/engine",
        "evalbudget/pricing",
        "evalbudget/tui",
        "evalbudget/sample_runs",
    }
    # the data and the loader ship; the maintainers' script that derives the data does not
    assert "evalbudget/sample_runs/swebench_verified_bash_only.parquet" in names
    assert "evalbudget/sample_runs/__init__.py" in names
    assert "evalbudget/engine/migrations/0001_initial.sql" in names
    assert not [n for n in names if n.endswith(("sample_runs/build.py", "sample_runs/_wheel.py"))]
    assert not [n for n in names if "tests/" in n or "benchmarks/" in n]


def test_installed_alone_it_imports_as_evalbudget_only(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel into a fresh venv whose dependencies come from the test venv's site-packages as a
    plain path (so the test venv's editable finder is not loaded), then use it from a neutral folder."""
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    installed = {p.name for p in site.iterdir() if not p.name.endswith(".dist-info")}
    assert installed - {"__pycache__", "_virtualenv.py", "_virtualenv.pth"} == {"evalbudget"}
    (site / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    code = (
        "import importlib.util, evalbudget.engine.cli, evalbudget.tui.main, evalbudget.sample_runs as s\n"
        "assert s.rollout_files(), 'no sample data'\n"
        "print(evalbudget.engine.cli.__file__)\n"
        "print([n for n in ('engine', 'pricing', 'tui', 'sample_runs') if importlib.util.find_spec(n)])\n"
    )
    result = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    module_file, found = result.stdout.splitlines()
    assert module_file.startswith(str(site))
    assert found == "[]"
    store = tmp_path / "store.duckdb"
    info = subprocess.run(
        [str(fresh / "bin" / "evalbudget"), "--store", str(store), "info", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0, info.stderr
    assert '"rollouts": 66764' in info.stdout
