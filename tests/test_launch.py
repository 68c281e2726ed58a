"""The launcher as a user runs it (a real subprocess): items, the openai backend against the tests' own HTTP
server on 127.0.0.1 (faults a real server can't be made to show), the replay backend on the sample store,
the hard spend cap, resume, and kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from evalbudget.engine.plan import Plan, PlanStage
from tests.conftest import ROOT, SECRET, fingerprint, run_cli, write_items, write_plan
from tests.conftest import arith as arith
from tests.fault_server import Script, fault_server


def launch(
    paths: dict[str, Path], url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "launch",
        str(paths["plan"]),
        "--backend",
        "openai",
        "--base-url",
        url,
        "--store",
        str(paths["store"]),
        "--prices",
        str(paths["prices"]),
        "--api-key-env",
        "EVALBUDGET_TEST_KEY",
        "--json",
        *extra,
        env={"EVALBUDGET_TEST_KEY": SECRET, **(env or {})},
    )


def rollouts(store: Path, where: str = "benchmark = 'arith'") -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(
            f'SELECT model, item_id, "repeat", score, input_tokens, output_tokens, cost_usd, cost_source, status '
            f"FROM rollouts WHERE {where} ORDER BY model, item_id"
        ).fetchall()
    finally:
        conn.close()


def test_items_load_refuses_a_bad_line(store_path: Path, tmp_path: Path) -> None:
    items = write_items(tmp_path / "items.jsonl")
    text = items.read_text().splitlines()
    text[2] = json.dumps({"id": "bad", "input": "x", "target": "1", "scorer": "fuzzy"})
    items.write_text("\n".join(text) + "\n")
    before = fingerprint(store_path)
    result = run_cli("items", "load", str(items), "--benchmark", "arith", "--store", str(store_path))
    assert result.returncode == 1
    assert f"{items}, line 3: scorer 'fuzzy' is not one of exact, includes, choice, numeric" in result.stderr
    assert fingerprint(store_path) == before


def test_openai_backend_records_usage_scores_and_costs(arith: dict[str, Path]) -> None:
    with fault_server() as (url, script):
        result = launch(arith, url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["completed"] == 12 and report["failed"] == 0
    rows = rollouts(arith["store"])
    assert len(rows) == 12 and all(r[3] == 1.0 and r[8] == "ok" for r in rows)  # the server doubles correctly
    for model, _, _, _, input_tokens, output_tokens, cost, source, _ in rows:
        assert model in ("model-a", "model-b") and output_tokens == 3 and source == "priced"
        assert cost == pytest.approx((input_tokens * 100 + output_tokens * 1000) / 1e6)
    assert report["spend_usd"] == pytest.approx(sum(r[6] for r in rows))
    # the key went to the server, and nowhere else
    assert set(script.authorizations) == {f"Bearer {SECRET}"}
    assert all(body["max_tokens"] in (16, 512) for body in script.bodies)
    for text in (
        result.stdout,
        result.stderr,
        arith["plan"].read_text(),
        arith["store"].read_bytes().decode("latin-1"),
    ):
        assert SECRET not in text


def test_retries_on_429_500_dropped_connections_and_timeouts(arith: dict[str, Path]) -> None:
    script = Script(faults={1: "429", 2: "500", 3: "drop", 4: "slow"}, retry_after="1")
    started = time.monotonic()
    with fault_server(script) as (url, script):
        result = launch(arith, url, "--timeout", "1", "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["completed"] == 12 and report["failed"] == 0
    assert script.requests == 12 + 4  # each fault cost one retry
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert len(rollouts(arith["store"])) == 12


def test_a_request_that_keeps_failing_is_not_recorded(arith: dict[str, Path]) -> None:
    script = Script(faults={n: "500" for n in range(1, 200)})
    with fault_server(script) as (url, _):
        result = launch(arith, url, "--retries", "1")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["status"] == "failed" and report["failed"] == 12
    assert rollouts(arith["store"]) == []


def test_the_spend_cap_is_never_passed_and_a_rerun_resumes(arith: dict[str, Path]) -> None:
    with fault_server() as (url, script):
        capped = launch(arith, url, "--max-spend", "0.02", "--concurrency", "3")
        assert capped.returncode == 3, capped.stderr
        first = json.loads(capped.stdout)
        assert first["status"] == "budget_exhausted" and 0 < first["completed"] < 12
        assert first["spend_usd"] <= 0.02
        rows = rollouts(arith["store"])
        assert (
            sum(r[6] for r in rows) == pytest.approx(first["spend_usd"]) and len(rows) == first["completed"]
        )
        resumed = launch(arith, url, "--max-spend", "10")
        assert resumed.returncode == 0, resumed.stderr
        second = json.loads(resumed.stdout)
        assert second["skipped_existing"] == first["completed"]
        assert second["completed"] == 12 - first["completed"]
        assert script.requests == 12  # nothing was asked twice
    rows = rollouts(arith["store"])
    assert len(rows) == len({(r[0], r[1], r[2]) for r in rows}) == 12


def test_kill_9_loses_nothing_recorded_and_a_rerun_completes(arith: dict[str, Path]) -> None:
    plan = write_plan(arith["plan"].with_name("big.json"), [f"q{i}" for i in range(1, 6)] * 1 + ["chat"])
    paths = {**arith, "plan": plan}
    with fault_server(Script(delay_s=0.25)) as (url, script):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evalbudget.engine",
                "launch",
                str(plan),
                "--backend",
                "openai",
                "--base-url",
                url,
                "--store",
                str(arith["store"]),
                "--prices",
                str(arith["prices"]),
                "--concurrency",
                "2",
                "--json",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "EVALBUDGET_STORE"},
        )
        deadline = time.monotonic() + 60
        while script.requests < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        asked_before_kill = script.requests
        survived = rollouts(arith["store"])
        assert 0 < len(survived) < 12  # committed one by one: what finished before the kill is there
        rerun = launch(paths, url)
        assert rerun.returncode == 0, rerun.stderr
        report = json.loads(rerun.stdout)
        assert report["skipped_existing"] == len(survived)
        assert report["completed"] == 12 - len(survived)
        assert script.requests - asked_before_kill == 12 - len(survived)
    rows = rollouts(arith["store"])
    assert len(rows) == len({(r[0], r[1], r[2]) for r in rows}) == 12
    assert set(survived) <= set(rows)


def test_replay_runs_a_plan_on_past_data(store_path: Path, tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    made = run_cli(
        "plan",
        "--store",
        str(store_path),
        "--benchmark",
        "swe-bench-verified",
        "--budget",
        "5%",
        "--all",
        "--out",
        str(plan_path),
        "--replicates",
        "30",
    )
    assert made.returncode == 0, made.stderr
    plan = Plan.model_validate_json(plan_path.read_text())
    units = sum(len(s.models) * len(s.item_ids) * s.repeats for s in plan.stages)
    result = run_cli("launch", str(plan_path), "--backend", "replay", "--store", str(store_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["completed"] == units and report["missing"] == 0 and report["spend_usd"] <= plan.budget_units
    )
    conn = duckdb.connect(str(store_path), read_only=True)
    replayed, original = conn.execute(
        """SELECT sum(cost_usd) FILTER (WHERE run_id = ?),
                  sum(cost_usd) FILTER (WHERE run_id <> ? AND list_contains(?, item_id))
           FROM rollouts WHERE benchmark = 'swe-bench-verified'""",
        [report["run_id"], report["run_id"], plan.stages[0].item_ids],
    ).fetchone()
    conn.close()
    assert replayed == pytest.approx(original) == pytest.approx(report["spend_usd"])
    again = json.loads(
        run_cli("launch", str(plan_path), "--backend", "replay", "--store", str(store_path), "--json").stdout
    )
    assert again["skipped_existing"] == units and again["completed"] == 0


def test_replay_reports_what_the_store_lacks(arith: dict[str, Path]) -> None:
    result = run_cli(
        "launch", str(arith["plan"]), "--backend", "replay", "--store", str(arith["store"]), "--json"
    )
    report = json.loads(result.stdout)
    assert report["missing"] == 12 and report["completed"] == 0 and result.returncode == 1


def test_replay_answers_from_history_only_never_from_a_launch(arith: dict[str, Path], tmp_path: Path) -> None:
    """A launch against a test endpoint recorded arith rollouts; a replay of another plan on the same items must
    not reuse those answers (nor their spend): the store has no history of arith, so every unit is missing."""
    with fault_server() as (url, _):
        assert launch(arith, url).returncode == 0
    launched = len(rollouts(arith["store"]))
    other = write_plan(tmp_path / "other.json", [f"q{i}" for i in range(1, 6)] + ["chat"], budget=9.0)
    result = run_cli("launch", str(other), "--backend", "replay", "--store", str(arith["store"]), "--json")
    report = json.loads(result.stdout)
    assert report["missing"] == 12 and report["completed"] == 0 and result.returncode == 1
    assert len(rollouts(arith["store"])) == launched == 12  # no copies


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model-map", "nobody=x"], "'nobody', which the plan does not run"),
        (["--model-map", "broken"], "must be PLAN_MODEL=SERVED_MODEL"),
        (["--concurrency", "0"], "--concurrency should be greater than or equal to 1"),
        (["--max-spend", "nan"], "--max-spend should be a finite number"),
        (["--timeout", "-1"], "--timeout should be greater than 0"),
    ],
)
def test_bad_launch_flags(arith: dict[str, Path], args: list[str], expected: str) -> None:
    result = launch(arith, "http://127.0.0.1:9/v1", *args)
    assert result.returncode == 1 and expected in result.stderr


def test_a_model_with_no_price_is_refused_before_any_request(arith: dict[str, Path]) -> None:
    arith["prices"].write_text('[models."model-a"]\ninput_mtok = 1\noutput_mtok = 1\n')
    result = launch(arith, "http://127.0.0.1:9/v1")
    assert result.returncode == 1 and "'model-b' has no price" in result.stderr


def test_a_vllm_server_that_fails_to_start_shows_its_last_lines(arith: dict[str, Path]) -> None:
    arith["prices"].write_text('[gpus.CPU]\nusd_per_hour = 0.1\nsource = "test"\n')
    result = run_cli(
        "launch",
        str(arith["plan"]),
        "--backend",
        "vllm",
        "--store",
        str(arith["store"]),
        "--prices",
        str(arith["prices"]),
        "--gpu-type",
        "CPU",
        "--vllm-command",
        f"{sys.executable} -c \"import sys; print('CUDA out of memory in the test'); sys.exit(3)\"",
    )
    assert result.returncode == 1
    assert "exited with status 3" in result.stderr and "CUDA out of memory in the test" in result.stderr


def test_inspect_backend_runs_the_harness_and_records_its_log(
    store_path: Path, tmp_path: Path, tiktoken_cache: Path
) -> None:
    from tests.conftest import INSPECT_TASK

    task = tmp_path / "task.py"
    task.write_text(INSPECT_TASK)
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."mockllm/model"]\ninput_mtok = 1\noutput_mtok = 2\n')
    plan = write_plan(tmp_path / "plan.json", ["q0", "q1", "q2"], models=("mockllm/model",), budget=1.0)
    result = run_cli(
        "launch",
        str(plan),
        "--backend",
        "inspect",
        "--store",
        str(store_path),
        "--prices",
        str(prices),
        "--inspect-task",
        str(task),
        "--token-limit",
        "1000",
        "--concurrency",
        "2",
        "--json",
        "--inspect-command",
        str(Path(sys.executable).with_name("inspect")),
        env={"TIKTOKEN_CACHE_DIR": str(tiktoken_cache)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["completed"] == 3 and report["failed"] == 0
    rows = rollouts(store_path)
    assert [(r[1], r[3]) for r in rows] == [
        ("q0", 0.0),
        ("q1", 1.0),
        ("q2", 0.0),
    ]  # includes(): C on odd items
    for _, _, _, _, input_tokens, output_tokens, cost, source, status in rows:
        assert input_tokens > 0 and output_tokens > 0 and status == "ok" and source == "priced"
        assert cost == pytest.approx((input_tokens * 1 + output_tokens * 2) / 1e6)
    assert report["spend_usd"] <= 1.0


def test_inspect_backend_needs_a_token_limit(arith: dict[str, Path]) -> None:
    result = run_cli(
        "launch",
        str(arith["plan"]),
        "--backend",
        "inspect",
        "--store",
        str(arith["store"]),
        "--inspect-task",
        "task.py",
    )
    assert result.returncode == 1 and "needs --token-limit" in result.stderr


def swe_items_and_models(store: Path, items: int) -> tuple[list[str], list[str]]:
    """The first ``items`` SWE-bench Verified items, and its models from the strongest to the weakest."""
    conn = duckdb.connect(str(store), read_only=True)
    try:
        ids = conn.execute(
            "SELECT DISTINCT item_id FROM rollouts WHERE benchmark = 'swe-bench-verified' ORDER BY 1 LIMIT ?",
            [items],
        ).fetchall()
        models = conn.execute(
            "SELECT model FROM rollouts WHERE benchmark = 'swe-bench-verified' GROUP BY model ORDER BY avg(score) DESC"
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in ids], [r[0] for r in models]


def test_coarse_to_fine_narrows_the_second_stage_from_the_first(store_path: Path, tmp_path: Path) -> None:
    items, models = swe_items_and_models(store_path, 120)
    chosen = models[:2] + models[-6:]  # two strong models and six weak ones
    plan = Plan(
        benchmark="swe-bench-verified",
        strategy="coarse-to-fine",
        budget_units=1000.0,
        stages=[
            PlanStage(name="coarse", models=chosen, item_ids=items[:60], budget_usd=500.0),
            PlanStage(
                name="fine",
                models=chosen,
                item_ids=items[60:],
                budget_usd=500.0,
                rule="only the candidates whose 95% interval overlaps the top 3",
            ),
        ],
    )
    path = tmp_path / "c2f.json"
    path.write_text(plan.model_dump_json())
    result = run_cli("launch", str(path), "--backend", "replay", "--store", str(store_path), "--json")
    assert result.returncode == 0, result.stderr
    coarse, fine = json.loads(result.stdout)["stages"]
    assert coarse["models"] == 8 and coarse["completed"] == 8 * 60
    assert 2 <= fine["models"] < 8 and fine["completed"] == fine["models"] * 60


def test_a_hand_written_plan_needs_only_benchmark_budget_and_stages(arith: dict[str, Path]) -> None:
    arith["plan"].write_text(
        json.dumps(
            {
                "benchmark": "arith",
                "budget_units": 1.0,
                "stages": [{"name": "main", "models": ["model-a"], "item_ids": ["q1", "q2"]}],
            }
        )
    )
    with fault_server() as (url, _):
        result = launch(arith, url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["completed"] == 2


def test_a_file_that_is_not_a_plan_is_named(arith: dict[str, Path]) -> None:
    arith["plan"].write_text(json.dumps({"benchmark": "arith", "stages": []}))
    result = launch(arith, "http://127.0.0.1:9/v1")
    assert result.returncode == 1 and f"{arith['plan']}: not a plan" in result.stderr


def test_successive_halving_keeps_the_better_half_each_round(store_path: Path, tmp_path: Path) -> None:
    items, models = swe_items_and_models(store_path, 90)
    chosen = models[-4:] + models[:4]  # the strongest last, so the plan's order cannot be what is kept
    halving = "keep the better half of the previous round's models by their mean so far"
    plan = Plan(
        benchmark="swe-bench-verified",
        strategy="successive-halving",
        budget_units=3000.0,
        stages=[
            PlanStage(name="round 1", models=chosen, item_ids=items[:30], budget_usd=1000.0),
            *(
                PlanStage(
                    name=f"round {k}",
                    models=chosen,
                    item_ids=items[30 * (k - 1) : 30 * k],
                    budget_usd=1000.0,
                    rule=halving,
                    narrow="top-half",
                )
                for k in (2, 3)
            ),
        ],
    )
    path = tmp_path / "halving.json"
    path.write_text(plan.model_dump_json())
    result = run_cli("launch", str(path), "--backend", "replay", "--store", str(store_path), "--json")
    assert result.returncode == 0, result.stderr
    rounds = json.loads(result.stdout)["stages"]
    assert [r["models"] for r in rounds] == [8, 4, 2]
    assert [r["completed"] for r in rounds] == [8 * 30, 4 * 30, 2 * 30]
    # the survivors are the best by their mean over what they ran, read back from the store
    conn = duckdb.connect(str(store_path), read_only=True)
    run_id = json.loads(result.stdout)["run_id"]
    last = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT model FROM rollouts WHERE run_id = ? AND list_contains(?, item_id)",
            [run_id, items[60:90]],
        ).fetchall()
    }
    second = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT model FROM rollouts WHERE run_id = ? AND list_contains(?, item_id)",
            [run_id, items[30:60]],
        ).fetchall()
    }
    means = dict(
        conn.execute(
            "SELECT model, avg(coalesce(score, 0)) FROM rollouts WHERE run_id = ? AND list_contains(?, item_id) "
            "GROUP BY model",
            [run_id, items[:60]],
        ).fetchall()
    )
    conn.close()
    assert len(second) == 4 and len(last) == 2 and last <= second
    assert min(means[m] for m in last) >= max(means[m] for m in second - last)


def test_a_benchmark_with_items_but_no_results_gets_a_worst_case_plan_that_launches(
    arith: dict[str, Path], tmp_path: Path
) -> None:
    plan_path = tmp_path / "cold.json"

    def plan(budget: str) -> subprocess.CompletedProcess[str]:
        return run_cli(
            "plan", "--benchmark", "arith", "--budget", budget, "--candidates", "model-a,model-b",
            "--store", str(arith["store"]), "--prices", str(arith["prices"]), "--out", str(plan_path), "--json",
        )  # fmt: skip

    # worst case of one run, priced by hand: the prompt's bytes plus 8 per message, plus max_tokens (512 when
    # the item names none), at 100 $/Mtok in and 1000 $/Mtok out, for each of the two models
    prompts = {f"q{i}": (len(f"Double the number {i}.") + 8, 16) for i in range(1, 6)}
    prompts["chat"] = (len("Be brief.") + 8 + len("Double 21") + 8, 512)
    worst = {item: 2 * (p * 100 + o * 1000) / 1e6 for item, (p, o) in prompts.items()}

    whole = plan("100%")
    assert whole.returncode == 0, whole.stderr
    full = json.loads(whole.stdout)
    assert full["strategy"] == "full" and full["cost_basis"] == "worst-case"
    assert full["predicted_fidelity"] is None and full["history_models"] == []
    assert sorted(full["stages"][0]["item_ids"]) == sorted(worst)
    assert full["predicted_cost"]["p95"] == pytest.approx(sum(worst.values()))

    cheap = plan("$0.2")
    assert cheap.returncode == 0, cheap.stderr
    part = json.loads(cheap.stdout)
    chosen = part["stages"][0]["item_ids"]
    assert part["strategy"] == "random" and 0 < len(chosen) < len(worst)
    assert (
        part["predicted_cost"]["p95"] == pytest.approx(sum(worst[i] for i in chosen))
        and sum(worst[i] for i in chosen) <= 0.2
    )

    refused = plan("$0.00001")
    assert refused.returncode == 1 and "buys no item of arith" in refused.stderr
    everyone = run_cli(
        "plan", "--benchmark", "arith", "--budget", "$1", "--all", "--store", str(arith["store"])
    )
    assert everyone.returncode == 1 and "give the models with --candidates" in everyone.stderr

    plan("$0.2")  # the plan to launch
    arith["plan"] = plan_path
    with fault_server() as (url, _):
        result = launch(arith, url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["completed"] == 2 * len(chosen) and report["spend_usd"] <= 0.2


def launch_inspect(
    plan: Path, store: Path, prices: Path, task: Path, token_limit: int, tiktoken_cache: Path
) -> subprocess.CompletedProcess[str]:
    """``evalbudget launch PLAN --backend inspect --json`` with the real ``inspect`` beside this Python."""
    return run_cli(
        "launch", str(plan), "--backend", "inspect", "--store", str(store), "--prices", str(prices),
        "--inspect-task", str(task), "--token-limit", str(token_limit), "--json",
        "--inspect-command", str(Path(sys.executable).with_name("inspect")),
        env={"TIKTOKEN_CACHE_DIR": str(tiktoken_cache)}, timeout=300,
    )  # fmt: skip


FAILING_TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import solver


@solver
def broken():
    async def solve(state, generate):
        raise RuntimeError("the agent's tool crashed")

    return solve


@task
def arith():
    return Task(dataset=[Sample(input="What is 1+1?", target="2", id="q0")], solver=broken(), scorer=includes())
"""


def test_an_inspect_sample_that_failed_is_charged_its_worst_case(
    store_path: Path, tmp_path: Path, tiktoken_cache: Path
) -> None:
    """A sample Inspect ran but could not finish says nothing of what it spent: it is charged at the worst
    case (the token limit at the dearer price), never $0."""
    task = tmp_path / "task.py"
    task.write_text(FAILING_TASK)
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."mockllm/model"]\ninput_mtok = 1\noutput_mtok = 2\n')
    plan = write_plan(tmp_path / "plan.json", ["q0"], models=("mockllm/model",), budget=1.0)
    result = launch_inspect(plan, store_path, prices, task, 1000, tiktoken_cache)
    report = json.loads(result.stdout)
    worst = 1000 * 2 / 1e6
    assert report["spend_usd"] == pytest.approx(worst) and report["unsettled_usd"] == pytest.approx(worst)
    conn = duckdb.connect(str(store_path), read_only=True)
    spent = conn.execute(
        "SELECT (SELECT coalesce(sum(cost_usd), 0) FROM rollouts WHERE benchmark = 'arith') "
        "+ (SELECT coalesce(sum(cost_usd), 0) FROM charges WHERE benchmark = 'arith')"
    ).fetchone()
    conn.close()
    assert spent == (pytest.approx(worst),)


def test_an_inspect_tasks_model_grader_is_charged_at_its_own_price(
    store_path: Path, tmp_path: Path, tiktoken_cache: Path
) -> None:
    """A task whose scorer calls a model grader: the grader's tokens are charged at the grader's price on top of
    the evaluated model's (the rollout keeps the evaluated model's own tokens); with no price for the grader
    the sample's cost is unknown, so it is charged its worst case, never the model's part alone. (The worst
    case is the evaluated model's token limit: a grader dearer than that is reported as an overrun.)"""
    from tests.test_ingest_inspect import GRADED_TASK

    task = tmp_path / "task.py"
    task.write_text(GRADED_TASK)
    plan = write_plan(tmp_path / "plan.json", ["q0", "q1"], models=("mockllm/model",), budget=1.0)
    model_only = '[models."mockllm/model"]\ninput_mtok = 1\noutput_mtok = 2\n'
    for label, toml in (("priced", model_only + '[models."mockllm/grader"]\ninput_mtok = 10\noutput_mtok = 20\n'),
                        ("worst-case", model_only)):  # fmt: skip
        store = tmp_path / f"{label}.duckdb"
        shutil.copy(store_path, store)
        prices = tmp_path / f"{label}.toml"
        prices.write_text(toml)
        result = launch_inspect(plan, store, prices, task, 10000, tiktoken_cache)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        got = rollouts(store)
        assert [r[1] for r in got] == ["q0", "q1"] and {r[7] for r in got} == {label}
        for _, _, _, _, input_tokens, output_tokens, cost, _, _ in got:
            own = (input_tokens * 1 + output_tokens * 2) / 1e6
            if label == "priced":  # the grader read the whole question and answer: far more than nothing
                assert cost > own + 100 * 10 / 1e6
            else:
                assert cost == pytest.approx(10000 * 2 / 1e6)  # the token limit at the dearer price
        assert report["spend_usd"] == pytest.approx(sum(r[6] for r in got))
