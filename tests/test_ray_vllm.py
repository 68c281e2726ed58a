"""vLLM engines on a Ray cluster (issue 16), on the real Ray head of conftest's ``gpu_cluster`` (127.0.0.1, token
authentication, two declared GPUs).
Each model's engine runs inside an actor that holds the GPU; the launcher reaches it only through that actor
while it reserves, settles and records every request itself. These tests stand the tests' fault server in for
vLLM, so that losing an engine takes seconds, not minutes; test_vllm.py serves from an actor with the real vLLM
CPU server."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.conftest import load_arith_items, processes, wait_until, write_plan

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")

PRICES = '[gpus.CPU]\nusd_per_hour = 0.10\nsource = "a test card for this 2-core machine"\n'
STAND_IN = "--as-vllm"
"""The fault server's flag for standing in for a vLLM server (tests/fault_server.py)."""


def launch_argv(paths: dict[str, Path], cluster: dict[str, str], command: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "evalbudget.engine", "launch", str(paths["plan"]), "--backend", "vllm",
        "--store", str(paths["store"]), "--prices", str(paths["prices"]), "--gpu-type", "CPU",
        "--vllm-command", command, "--ray", cluster["EVALBUDGET_TEST_RAY"], "--json", *extra,
    ]  # fmt: skip


def serving(marker: bytes) -> bool:
    """Whether the server whose command line holds ``marker`` answers on the port it was given."""
    for pid in processes(marker):
        with contextlib.suppress(OSError, ValueError, httpx.HTTPError):
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
            port = int(argv[argv.index(b"--port") + 1])
            return httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200
    return False


@pytest.fixture
def many(store_path: Path, tmp_path: Path) -> dict[str, Path]:
    """2 models x 30 items of the arith benchmark, priced by the GPU time held."""
    load_arith_items(store_path, tmp_path / "many.jsonl", 30)
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    plan = write_plan(tmp_path / "plan.json", [f"q{i}" for i in range(1, 31)], budget=5.0)
    return {"store": store_path, "prices": prices, "plan": plan}


def recorded(store: Path) -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(
            """SELECT model, item_id, "repeat", count(*) FROM rollouts
               WHERE benchmark = 'arith' AND run_id LIKE 'launch-%' GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    finally:
        conn.close()


def test_an_engine_lost_mid_launch_is_replaced_and_nothing_is_lost_or_doubled(
    gpu_cluster: dict[str, str], many: dict[str, Path]
) -> None:
    """SIGKILL the actor holding the first model's engine while it serves: the engine's server dies with it
    (not left holding the GPU), one new engine is started (its start-up reserved), the requests that were in
    flight are sent again to it, and every (model, item) is recorded once within the cap."""
    stand_in = f"{sys.executable} -m tests.fault_server {STAND_IN} 0.5"
    argv = launch_argv(
        many,
        gpu_cluster,
        stand_in,
        "--ray-workers",
        "1",
        "--concurrency",
        "3",
        "--timeout",
        "5",
        "--retries",
        "1",
    )
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gpu_cluster
    )
    try:
        wait_until(lambda: serving(STAND_IN.encode()), "no engine was started", process)
        time.sleep(1.0)  # serving: 3 requests at a time, 0.5 s each: 5 s of them for the first model
        hosts = processes(b"EngineHost")
        assert len(hosts) == 1, hosts
        os.kill(hosts[0], signal.SIGKILL)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and out.startswith("{"), out[:600] + err[-2000:]
    report = json.loads(out)
    assert report["status"] == "completed" and report["completed"] == 60 and report["failed"] == 0
    assert report["retries"] >= 1  # the requests the lost engine held
    cluster = report["cluster"]
    # model-a's engine, model-a's again after the loss, model-b's: each placed on the one GPU in turn
    assert cluster["engines"] == 3 and cluster["nodes"] == 1 and cluster["workers"] == 0
    assert str(cluster["address"]) == gpu_cluster["EVALBUDGET_TEST_RAY"]
    assert not processes(STAND_IN.encode()), "a server outlived its engine's actor"
    assert report["spend_usd"] <= 5.0
    assert report["spend_usd"] == pytest.approx(report["gpu_seconds"] / 3600 * 0.10, rel=1e-6)

    rerun = subprocess.run(argv, capture_output=True, text=True, env=gpu_cluster, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads(rerun.stdout)
    assert again["completed"] == 0 and again["skipped_existing"] == 60 and again["cluster"]["engines"] == 0
    rows = recorded(many["store"])
    assert len(rows) == 60 and all(count == 1 for *_, count in rows)


def test_an_engine_no_node_can_hold_is_refused_in_one_sentence(
    gpu_cluster: dict[str, str], many: dict[str, Path]
) -> None:
    stand_in = f"{sys.executable} -m tests.fault_server {STAND_IN} 0"
    result = subprocess.run(
        launch_argv(many, gpu_cluster, stand_in, "--gpus", "3"),
        capture_output=True, text=True, env=gpu_cluster, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "No node of the Ray cluster at 127.0.0.1:" in result.stderr
    assert "has 3 GPU(s) (the most on one node: 2)" in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert recorded(many["store"]) == []


def test_engines_run_in_batches_of_what_the_cluster_holds(
    gpu_cluster: dict[str, str], many: dict[str, Path], tmp_path: Path
) -> None:
    """Four models, three engines asked for, two GPUs: two engines at once, each model's items sent to its own
    engine while the other's are; the second pair starts when the first pair's requests are done."""
    models = ("m1", "m2", "m3", "m4")
    plan = write_plan(tmp_path / "four.json", [f"q{i}" for i in range(1, 7)], models=models, budget=5.0)
    stand_in = f"{sys.executable} -m tests.fault_server {STAND_IN} 0.3"
    argv = launch_argv(
        {**many, "plan": plan}, gpu_cluster, stand_in, "--ray-workers", "3", "--concurrency", "2"
    )
    result = subprocess.run(argv, capture_output=True, text=True, env=gpu_cluster, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["completed"] == 24
    cluster = report["cluster"]
    assert cluster["engines"] == 4 and cluster["engines_at_once"] == 2 and cluster["tasks"] == 24
    conn = duckdb.connect(str(many["store"]), read_only=True)
    try:
        spans = dict(
            conn.execute(
                """SELECT model, [min(epoch(started_at)), max(epoch(started_at) + latency_s)] FROM rollouts
                   WHERE run_id = ? GROUP BY model""",
                [report["run_id"]],
            ).fetchall()
        )
    finally:
        conn.close()
    (a0, a1), (b0, b1), (c0, c1), (d0, d1) = (spans[m] for m in models)
    assert a0 < b1 and b0 < a1 and c0 < d1 and d0 < c1  # each pair served at once
    assert min(c0, d0) >= max(a1, b1) - 0.05  # the second pair after the first
    assert report["spend_usd"] == pytest.approx(report["gpu_seconds"] / 3600 * 0.10, rel=1e-6)
    # a rerun has nothing left to run: it starts no engine (an idle one would be paid for)
    rerun = json.loads(
        subprocess.run(argv, capture_output=True, text=True, env=gpu_cluster, timeout=600).stdout
    )
    assert rerun["skipped_existing"] == 24 and rerun["cluster"]["engines"] == 0 and rerun["spend_usd"] == 0


def test_a_cluster_that_refuses_the_token_is_named_in_one_sentence(
    gpu_cluster: dict[str, str], many: dict[str, Path]
) -> None:
    """The token comes only from the environment; a wrong one is refused by the cluster, and said so."""
    stand_in = f"{sys.executable} -m tests.fault_server {STAND_IN} 0"
    result = subprocess.run(
        launch_argv(many, gpu_cluster, stand_in),
        capture_output=True, text=True, env={**gpu_cluster, "RAY_AUTH_TOKEN": "0" * 64}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    last = result.stderr.strip().splitlines()[-1]  # Ray's own client logs its retries on stderr before it
    assert last.startswith("evalbudget: Could not reach the Ray cluster at '127.0.0.1:")
    assert "refused this process's authentication token" in last and "0" * 64 not in result.stderr
    assert recorded(many["store"]) == []
