"""Launching over a Ray cluster (issue 16): a real one-node Ray cluster on 127.0.0.1 (`--ray local`), its
workers sending the requests to the tests' fault server while the launcher's process reserves, settles and
records every one of them."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT, load_arith_items, processes, wait_until, write_plan
from tests.fault_server import Script, fault_server

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")

SECRET = "sk-ray-test-0123456789"


def launch_argv(paths: dict[str, Path], url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "evalbudget.engine", "launch", str(paths["plan"]), "--backend", "openai",
        "--base-url", url, "--store", str(paths["store"]), "--prices", str(paths["prices"]),
        "--api-key-env", "EVALBUDGET_TEST_KEY", "--json", "--ray", "local", *extra,
    ]  # fmt: skip


def environment() -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "EVALBUDGET_STORE"},
        "EVALBUDGET_TEST_KEY": SECRET,
    }


@pytest.fixture
def many(arith: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """The arith benchmark with 30 items and a plan of 2 models x 30 items."""
    load_arith_items(arith["store"], tmp_path / "many.jsonl", 30)
    plan = write_plan(tmp_path / "many-plan.json", [f"q{i}" for i in range(1, 31)], budget=10.0)
    return {**arith, "plan": plan}


def recorded(store: Path, run_id: str) -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(
            'SELECT model, item_id, "repeat", count(*) FROM rollouts WHERE run_id = ? GROUP BY ALL ORDER BY ALL',
            [run_id],
        ).fetchall()
    finally:
        conn.close()


def request_workers() -> list[int]:
    """Ray's request-worker processes on this machine (their titles name the actor class)."""
    return processes(b"RequestWorker")


def test_a_plan_runs_on_ray_workers_each_unit_once_within_the_cap(many: dict[str, Path]) -> None:
    script = Script(faults={3: "500", 7: "slow", 11: "drop"}, delay_s=0.05)
    with fault_server(script) as (url, script):
        result = subprocess.run(
            launch_argv(many, url, "--ray-workers", "2", "--concurrency", "2", "--timeout", "2", "--retries", "3"),
            capture_output=True, text=True, env=environment(), timeout=300, cwd=ROOT,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["completed"] == 60 and report["failed"] == 0
    rows = recorded(many["store"], report["run_id"])
    assert len(rows) == 60 and all(count == 1 for *_, count in rows)
    cluster = report["cluster"]
    assert cluster["nodes"] == 1 and cluster["workers"] == 2 and cluster["workers_lost"] == 0
    assert str(cluster["address"]).startswith("127.0.0.1:")  # the local cluster listens on loopback only
    # every request the server saw was handed to a worker by the launcher, and reserved before it was sent
    assert cluster["tasks"] == script.requests == 60 + report["retries"]
    assert set(script.authorizations) == {f"Bearer {SECRET}"}  # the key reached the endpoint, from memory
    assert report["spend_usd"] <= 10.0 and report["unsettled_usd"] > 0  # the slow and dropped attempts
    assert SECRET not in result.stdout + result.stderr
    assert SECRET.encode() not in many["store"].read_bytes() and SECRET not in many["plan"].read_text()


def test_a_worker_killed_mid_launch_loses_nothing_and_doubles_nothing(many: dict[str, Path]) -> None:
    """SIGKILL one Ray worker while it holds requests: they are charged at the worst case and sent again from
    the worker that replaces it; every unit is recorded exactly once and the cap holds."""
    script = Script(delay_s=0.4)
    with fault_server(script) as (url, script):
        process = subprocess.Popen(
            launch_argv(many, url, "--ray-workers", "2", "--concurrency", "3", "--max-spend", "5"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(), cwd=ROOT,
        )  # fmt: skip
        try:
            wait_until(lambda: script.requests >= 8, "no requests reached the server", process)
            workers = request_workers()
            assert len(workers) == 2, workers
            os.kill(workers[0], signal.SIGKILL)
            out, err = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0 and out, err
    assert out.startswith("{"), out[:600]
    report = json.loads(out)
    assert report["status"] == "completed" and report["completed"] == 60 and report["failed"] == 0
    assert report["cluster"]["workers_lost"] == 1 and report["retries"] >= 1
    rows = recorded(many["store"], report["run_id"])
    assert len(rows) == 60 and all(count == 1 for *_, count in rows)
    # the killed worker's requests in flight: charged at their worst case, never $0
    assert report["unsettled_usd"] > 0 and report["spend_usd"] <= 5.0
    conn = duckdb.connect(str(many["store"]), read_only=True)
    charged = conn.execute(
        "SELECT count(*), sum(cost_usd) FROM charges WHERE run_id = ?", [report["run_id"]]
    ).fetchone()
    conn.close()
    assert charged is not None and charged[0] >= 1 and charged[1] > 0


def test_the_driver_killed_or_stopped_is_resumed_by_a_rerun(many: dict[str, Path]) -> None:
    """kill -9 of the launching process, then Ctrl-C of the next: each time the cluster's workers go with it,
    and a rerun records the rest; every unit once, all the runs within the plan's cap."""
    script = Script(delay_s=0.3)
    with fault_server(script) as (url, script):
        argv = launch_argv(many, url, "--ray-workers", "2", "--concurrency", "2", "--max-spend", "5")

        def start_and_wait(requests: int) -> subprocess.Popen[str]:
            process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(), cwd=ROOT
            )
            wait_until(lambda: script.requests >= requests, "the launch sent too few requests", process)
            return process

        def workers_gone() -> None:
            wait_until(
                lambda: not request_workers(), "the cluster's workers outlived their launch", timeout=60
            )

        killed = start_and_wait(8)
        killed.kill()  # SIGKILL: no chance to stop anything
        killed.communicate(timeout=60)
        workers_gone()
        stopped = start_and_wait(script.requests + 8)
        stopped.send_signal(signal.SIGINT)
        out, err = stopped.communicate(timeout=120)
        assert stopped.returncode == 130 and json.loads(out)["status"] == "cancelled", err
        workers_gone()
        rerun = subprocess.run(argv, capture_output=True, text=True, env=environment(), timeout=300, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr
    final = json.loads(rerun.stdout)
    assert final["status"] == "completed" and final["skipped_existing"] >= 8 and final["completed"] > 0
    conn = duckdb.connect(str(many["store"]), read_only=True)
    try:
        counts = conn.execute(
            "SELECT model, item_id, \"repeat\", count(*) FROM rollouts WHERE run_id LIKE 'launch-%' GROUP BY ALL"
        ).fetchall()
        spent = conn.execute(
            "SELECT (SELECT coalesce(sum(cost_usd), 0) FROM rollouts WHERE run_id LIKE 'launch-%') "
            "+ (SELECT coalesce(sum(cost_usd), 0) FROM charges)"
        ).fetchone()
    finally:
        conn.close()
    assert len(counts) == 60 and all(count == 1 for *_, count in counts)
    assert spent is not None and 0 < spent[0] <= 5.0
    assert final["plan_spent_usd"] == pytest.approx(spent[0], rel=1e-6)


def test_without_ray_nothing_imports_it(arith: dict[str, Path]) -> None:
    """The CLI and the app load Ray only when --ray is given."""
    code = (
        "import sys\n"
        "from evalbudget.engine.cli import main\n"
        f"main(['launch', {str(arith['plan'])!r}, '--backend', 'replay', '--store', {str(arith['store'])!r}, '--json'])\n"
        "import evalbudget.tui.app\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_a_bad_address_is_one_sentence(arith: dict[str, Path]) -> None:
    from tests.conftest import run_cli

    result = run_cli(
        "launch", str(arith["plan"]), "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--store",
        str(arith["store"]), "--prices", str(arith["prices"]), "--ray", "not an address",
    )  # fmt: skip
    assert result.returncode == 1 and "--ray: 'not an address' is not local, auto" in result.stderr
    assert result.stderr.count("\n") == 1


def test_ray_is_for_the_openai_backend(arith: dict[str, Path]) -> None:
    from tests.conftest import run_cli

    result = run_cli(
        "launch", str(arith["plan"]), "--backend", "replay", "--store", str(arith["store"]), "--ray", "local"
    )
    assert result.returncode == 1 and "the replay backend runs on this machine" in result.stderr
