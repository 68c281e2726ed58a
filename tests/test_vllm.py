"""The launcher against a real vLLM server on 127.0.0.1 (vLLM's CPU build serving SmolLM2-135M-Instruct):
the vllm backend starting and stopping its own server (on this machine, or in an actor of a Ray cluster), and
the openai backend against a running one."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from evalbudget.engine.launch.vllm_server import VllmServer
from tests.conftest import processes, run_cli, write_plan
from tests.vllm_support import SERVED_NAME, SERVER_ARGS, SERVER_ENV, ensure_vllm, server_command

ITEMS = [
    {
        "id": "capital",
        "input": "What is the capital of France? Answer in one word.",
        "target": "Paris",
        "scorer": "includes",
        "max_tokens": 8,
    },
    {
        "id": "sum",
        "input": "What is 2+2? Answer with a number.",
        "target": "4",
        "scorer": "numeric",
        "max_tokens": 8,
    },
    {
        "id": "colour",
        "input": [{"role": "user", "content": "What colour is the sky on a clear day? One word."}],
        "target": "blue",
        "scorer": "includes",
        "max_tokens": 8,
    },
]
PRICES = (
    '[models."smollm2"]\ninput_mtok = 0.10\noutput_mtok = 0.20\n'
    '[gpus.CPU]\nusd_per_hour = 0.10\nsource = "a test card for this 2-core machine"\n'
)


@pytest.fixture(scope="module")
def vllm_install() -> tuple[Path, Path]:
    return ensure_vllm()


@pytest.fixture
def simple(store_path: Path, tmp_path: Path) -> dict[str, Path]:
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(i) for i in ITEMS) + "\n")
    assert (
        run_cli("items", "load", str(items), "--benchmark", "simple", "--store", str(store_path)).returncode
        == 0
    )
    plan = write_plan(tmp_path / "plan.json", [i["id"] for i in ITEMS], models=(SERVED_NAME,), budget=1.0)
    data = json.loads(plan.read_text())
    data["benchmark"] = "simple"
    plan.write_text(json.dumps(data))
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    return {"store": store_path, "plan": plan, "prices": prices}


def recorded(store: Path) -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(
            "SELECT item_id, score, input_tokens, output_tokens, cost_usd, gpu_seconds, gpu_type, latency_s "
            "FROM rollouts WHERE benchmark = 'simple' ORDER BY item_id"
        ).fetchall()
    finally:
        conn.close()


def servers_running() -> int:
    """vLLM server processes alive on this machine."""
    return len(processes(b"vllm.entrypoints.openai.api_server"))


def test_vllm_backend_starts_serves_and_stops_its_server(
    vllm_install: tuple[Path, Path], simple: dict[str, Path]
) -> None:
    python, model = vllm_install
    before = servers_running()
    result = run_cli(
        "launch",
        str(simple["plan"]),
        "--backend",
        "vllm",
        "--store",
        str(simple["store"]),
        "--prices",
        str(simple["prices"]),
        "--gpu-type",
        "CPU",
        "--model-map",
        f"{SERVED_NAME}={model}",
        "--vllm-command",
        server_command(python),
        *[f"--vllm-arg={a}" for a in SERVER_ARGS],
        "--json",
        env=SERVER_ENV,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["completed"] == 3
    assert servers_running() == before, "the server must be stopped by its pid"
    rows = recorded(simple["store"])
    assert all(r[2] > 0 and 0 < r[3] <= 8 for r in rows)  # real usage from the server; max_tokens held
    assert all(r[6] == "CPU" and r[5] == pytest.approx(r[7]) for r in rows)  # one GPU, held for each request
    # the spend is the time the server was held, start-up included, at the card's rate
    assert report["gpu_seconds"] > sum(r[7] for r in rows)
    assert report["spend_usd"] == pytest.approx(report["gpu_seconds"] / 3600 * 0.10, rel=1e-6)
    assert report["spend_usd"] <= 1.0


@pytest.fixture(scope="module")
def vllm_server(vllm_install: tuple[Path, Path]) -> Iterator[str]:
    """One server for the module, started once and stopped by its pid at the end."""
    python, model = vllm_install
    os.environ.update(SERVER_ENV)
    server = VllmServer(
        weights=str(model),
        served_name=SERVED_NAME,
        command=server_command(python),
        extra_args=list(SERVER_ARGS),
        startup_timeout_s=900,
    )
    server.start()
    try:
        asyncio.run(server.wait_ready())
        yield server.base_url
    finally:
        server.stop()


def test_openai_backend_against_a_real_vllm_server(vllm_server: str, simple: dict[str, Path]) -> None:
    result = run_cli(
        "launch",
        str(simple["plan"]),
        "--backend",
        "openai",
        "--base-url",
        vllm_server,
        "--store",
        str(simple["store"]),
        "--prices",
        str(simple["prices"]),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["completed"] == 3 and report["failed"] == 0
    rows = recorded(simple["store"])
    for _, score, input_tokens, output_tokens, cost, *_ in rows:
        assert input_tokens > 5 and 0 < output_tokens <= 8 and score in (0.0, 1.0)
        assert cost == pytest.approx((input_tokens * 0.10 + output_tokens * 0.20) / 1e6)
    scores = {r[0]: r[1] for r in rows}
    assert scores["capital"] == 1.0  # SmolLM2 answers Paris
    assert report["spend_usd"] == pytest.approx(sum(r[4] for r in rows))


def test_weights_name_a_checkpoint_by_its_revision(tmp_path: Path) -> None:
    from evalbudget.engine.launch.vllm_server import weights_and_revision

    assert weights_and_revision("EleutherAI/pythia-160m@step1000") == ("EleutherAI/pythia-160m", "step1000")
    assert weights_and_revision("EleutherAI/pythia-160m") == ("EleutherAI/pythia-160m", None)
    local = tmp_path / "run@step5"
    local.mkdir()
    assert weights_and_revision(str(local)) == (str(local), None)


def test_a_checkpoint_plan_serves_each_checkpoint_from_its_weights(
    vllm_install: tuple[Path, Path], simple: dict[str, Path], tmp_path: Path
) -> None:
    """`checkpoints plan` for a run new to the store (history: three series' per-item results on the same
    items), launched with the vLLM backend: each chosen checkpoint is served from the weights the model map
    gives it (here the same local folder for both), one server at a time."""
    python, model = vllm_install
    store = simple["store"]
    table = tmp_path / "history.csv"
    rows = ["benchmark,item_id,model,score,series,step"]
    for rank, series in enumerate(("lab/run-a", "lab/run-b", "lab/run-c")):
        for step in (0, 500, 1000):
            rows += [
                f"simple,{item['id']},{series}@step{step},{int(step >= 500 * (1 + rank % 2))},{series},{step}"
                for item in ITEMS
            ]
    table.write_text("\n".join(rows) + "\n")
    assert run_cli("ingest", "--store", str(store), str(table)).returncode == 0
    plan_path = tmp_path / "checkpoints.json"
    made = run_cli(
        "checkpoints", "plan", "--store", str(store), "--series", "lab/new", "--steps", "0,1000",
        "--benchmark", "simple", "--budget", "100%", "--out", str(plan_path),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    plan = json.loads(plan_path.read_text())
    assert plan["stages"][0]["models"] == ["lab/new@step0", "lab/new@step1000"]
    assert sorted(plan["stages"][0]["item_ids"]) == sorted(i["id"] for i in ITEMS)
    before = servers_running()
    result = run_cli(
        "launch", str(plan_path), "--backend", "vllm", "--store", str(store), "--prices", str(simple["prices"]),
        "--gpu-type", "CPU", "--max-spend", "1",
        "--model-map", f"lab/new@step0={model}", "--model-map", f"lab/new@step1000={model}",
        "--vllm-command", server_command(python), *[f"--vllm-arg={a}" for a in SERVER_ARGS], "--json",
        env=SERVER_ENV, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["completed"] == 6 and report["spend_usd"] <= 1
    assert servers_running() == before
    conn = duckdb.connect(str(store), read_only=True)
    launched = conn.execute(
        "SELECT model, count(*), min(gpu_seconds) > 0 FROM rollouts WHERE run_id = ? GROUP BY 1 ORDER BY 1",
        [report["run_id"]],
    ).fetchall()
    conn.close()
    assert launched == [("lab/new@step0", 3, True), ("lab/new@step1000", 3, True)]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")
def test_a_vllm_engine_serves_from_a_ray_actor(
    vllm_install: tuple[Path, Path], simple: dict[str, Path], gpu_cluster: dict[str, str]
) -> None:
    """--ray with the vllm backend: the real server started by an actor holding the cluster's GPU, on its node's
    loopback, answering through that actor (issue 16)."""
    python, model = vllm_install
    before = servers_running()
    result = run_cli(
        "launch", str(simple["plan"]), "--backend", "vllm", "--store", str(simple["store"]), "--prices",
        str(simple["prices"]), "--gpu-type", "CPU", "--model-map", f"{SERVED_NAME}={model}", "--vllm-command",
        server_command(python), *[f"--vllm-arg={a}" for a in SERVER_ARGS], "--ray", gpu_cluster["EVALBUDGET_TEST_RAY"],
        "--json", env=gpu_cluster, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["completed"] == 3
    cluster = report["cluster"]
    assert cluster["engines"] == 1 and cluster["workers"] == 0
    assert cluster["tasks"] == 3  # each request went through the engine's actor
    rows = recorded(simple["store"])
    assert all(r[2] > 0 and 0 < r[3] <= 8 for r in rows)  # the server's own usage; max_tokens held
    assert servers_running() == before, "the engine's server must stop with the launch"
    assert report["gpu_seconds"] > sum(r[7] for r in rows)  # the start-up is time held too
    assert report["spend_usd"] == pytest.approx(report["gpu_seconds"] / 3600 * 0.10, rel=1e-6)
