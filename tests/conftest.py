"""Shared fixtures: real DuckDB stores seeded from sample_runs/, real Inspect logs, the CLI as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from evalbudget.engine.launch.vllm_server import free_port
from evalbudget.engine.plan import Plan, PlanStage
from evalbudget.engine.store import open_store
from tests.vllm_support import SERVER_ENV

ROOT = Path(__file__).resolve().parent.parent
# tiktoken names its cache files by the SHA-1 of the encoding's URL: o200k_base and cl100k_base.
TIKTOKEN_FILES = ("fb374d419588a4632f3f557e76b4b70aebbca790", "9b5ad71b2ce5302211f9c61530b329a4922fc6a4")


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m engine ARGS`` as a user would, with the store path only from args or env."""
    full_env = {k: v for k, v in os.environ.items() if k != "EVALBUDGET_STORE"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "evalbudget.engine", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )


def fingerprint(path: Path) -> tuple[object, ...]:
    """Row counts and a content hash of every table: equal fingerprints mean an unchanged store."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        parts: list[object] = []
        for table in ("rollouts", "runs", "items", "schema_version"):
            parts.extend(conn.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchone() or ())
        return tuple(parts)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def seeded_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.duckdb"
    open_store(path).close()
    return path


@pytest.fixture
def store_path(seeded_store_template: Path, tmp_path: Path) -> Path:
    """A private copy of a store seeded from the sample runs."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(seeded_store_template, path)
    return path


@pytest.fixture(scope="session")
def tiktoken_cache() -> Path:
    """tiktoken's encoding files, which Inspect needs offline; fetched once from the litellm wheel on PyPI."""
    cache = Path(
        os.environ.get("EVALBUDGET_TIKTOKEN_CACHE", Path.home() / ".cache" / "evalbudget" / "tiktoken")
    )
    if all((cache / name).exists() for name in TIKTOKEN_FILES):
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "litellm", "-d", download],
            check=True,
            timeout=600,
        )
        wheel = next(Path(download).glob("litellm-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in TIKTOKEN_FILES:
                member = f"litellm/litellm_core_utils/tokenizers/{name}"
                (cache / name).write_bytes(archive.read(member))
    return cache


INSPECT_TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate


@task
def arith():
    # mockllm answers "Default output from mockllm/model": odd items are scored C, even ones I.
    return Task(
        dataset=[Sample(input=f"What is {i}+{i}?", target="mockllm/model" if i % 2 else str(2 * i), id=f"q{i}")
                 for i in range(5)],
        solver=generate(),
        scorer=includes(),
    )
"""


def write_inspect_log(
    directory: Path, tiktoken_dir: Path, log_format: str, *extra: str, task: str = INSPECT_TASK
) -> Path:
    """Run the real ``inspect eval`` of ``task`` with the offline mockllm provider; return the log it wrote."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "task.py").write_text(task)
    inspect = Path(sys.executable).with_name("inspect")
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tiktoken_dir), "INSPECT_DISPLAY": "none"}
    subprocess.run(
        [
            str(inspect),
            "eval",
            "task.py",
            "--model",
            "mockllm/model",
            "--epochs",
            "2",
            "--log-dir",
            "logs",
            "--log-format",
            log_format,
            "--display",
            "none",
            *extra,
        ],
        cwd=directory,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (log,) = (directory / "logs").glob(f"*.{log_format}")
    return log


@pytest.fixture(scope="session")
def inspect_eval_log(tmp_path_factory: pytest.TempPathFactory, tiktoken_cache: Path) -> Path:
    return write_inspect_log(tmp_path_factory.mktemp("inspect_eval"), tiktoken_cache, "eval")


@pytest.fixture(scope="session")
def inspect_json_log(tmp_path_factory: pytest.TempPathFactory, tiktoken_cache: Path) -> Path:
    return write_inspect_log(tmp_path_factory.mktemp("inspect_json"), tiktoken_cache, "json")


@pytest.fixture
def isolated_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a CLI run whose default paths land in tmp_path."""
    yield {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}


# ---- the arith benchmark the launcher tests run: items with prompts, prices, a plan ----------------------

SECRET = "sk-test-never-write-me-0123456789"
PRICES = '[models."model-a"]\ninput_mtok = 100\noutput_mtok = 1000\n[models."model-b"]\ninput_mtok = 100\noutput_mtok = 1000\n'


def planned(store: Path, out: Path, *args: str) -> Path:
    """``evalbudget plan ARGS --store STORE --out OUT``, as a user runs it; the plan file written."""
    made = run_cli("plan", "--store", str(store), *args, "--out", str(out))
    assert made.returncode == 0, made.stderr
    return out


def write_items(path: Path, count: int = 5) -> Path:
    lines = [
        {
            "id": f"q{i}",
            "input": f"Double the number {i}.",
            "target": str(2 * i),
            "scorer": "numeric",
            "max_tokens": 16,
        }
        for i in range(1, count + 1)
    ]
    lines.append(
        {
            "id": "chat",
            "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Double 21"}],
            "target": "42",
            "scorer": "includes",
        }
    )
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def write_plan(
    path: Path, items: list[str], models: tuple[str, ...] = ("model-a", "model-b"), budget: float = 10.0
) -> Path:
    plan = Plan(
        benchmark="arith",
        budget_units=budget,
        stages=[PlanStage(name="main", models=list(models), item_ids=items, budget_usd=budget)],
    )
    path.write_text(plan.model_dump_json(indent=2))
    return path


@pytest.fixture
def arith(store_path: Path, tmp_path: Path) -> dict[str, Path]:
    items = write_items(tmp_path / "items.jsonl")
    result = run_cli("items", "load", str(items), "--benchmark", "arith", "--store", str(store_path))
    assert result.returncode == 0, result.stderr
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    plan = write_plan(tmp_path / "plan.json", [f"q{i}" for i in range(1, 6)] + ["chat"])
    return {"store": store_path, "prices": prices, "plan": plan}


def processes(marker: bytes) -> list[int]:
    """Processes on this machine whose command line holds ``marker`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in command:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def gpu_cluster() -> Iterator[dict[str, str]]:
    """A real Ray head on 127.0.0.1 only, with token authentication, declaring two GPUs: Ray schedules GPUs as a
    count, this machine has none, and vLLM's CPU build ignores the device Ray assigns. Its environment is its
    servers' (a node's). Stopped at the end of the module that uses it."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "EVALBUDGET_STORE"},
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # the node resolves its own address to 127.0.0.1
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        **SERVER_ENV,  # the vLLM CPU build's KV cache size
        "PYTHONPATH": str(ROOT),  # the fault server standing in for vLLM is the tests' own module
    }
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    folder = tempfile.mkdtemp(prefix="evbray", dir="/tmp")  # short: Ray's socket paths live under it
    # in a session of its own: every process of the cluster is in it, so the teardown can kill exactly them
    # (`ray stop` would stop every Ray cluster on the machine)
    head = subprocess.Popen(
        [ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=2", "--include-dashboard=false",
         "--disable-usage-stats", "--object-store-memory=100000000", f"--temp-dir={folder}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = head.communicate(timeout=180)
        assert head.returncode == 0, out
        yield {**env, "EVALBUDGET_TEST_RAY": f"127.0.0.1:{port}"}
    finally:
        stop_session(head.pid)
        shutil.rmtree(folder, ignore_errors=True)


def stop_session(session: int) -> None:
    """SIGKILL every process of ``session`` and wait until they are gone."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        members = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[3]) == session and fields[0] != "Z":
                        members.append(int(entry.name))
        if not members:
            return
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def load_arith_items(store: Path, path: Path, count: int) -> None:
    """``count`` arith items (q1..) written to ``path`` and loaded into the store, as a user would."""
    result = run_cli(
        "items", "load", str(write_items(path, count=count)), "--benchmark", "arith", "--store", str(store)
    )
    assert result.returncode == 0, result.stderr


def wait_until(
    done: Callable[[], bool], what: str, process: subprocess.Popen[str] | None = None, timeout: float = 120
) -> None:
    """Wait until ``done()``; fail saying ``what`` never came, or what ``process`` printed if it ended first."""
    deadline = time.monotonic() + timeout
    while not done():
        assert process is None or process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
