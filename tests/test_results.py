"""`evalbudget results`: a launched plan's estimated leaderboard (the plan's own estimator, calibrated
intervals, ranks, tiers, stages), partial launches stated honestly, and the intervals' coverage on the sample
data over many replayed splits."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from evalbudget.engine.launch.setup import read_plan
from evalbudget.engine.plan import replay
from evalbudget.engine.results import COVERAGE_TARGET, CoverageCheck, interval_coverage, record_check
from evalbudget.engine.sim.data import load_benchmark
from evalbudget.engine.sim.strategies import strategy_spec
from tests.conftest import arith as arith
from tests.conftest import run_cli, write_plan
from tests.fault_server import fault_server
from tests.test_launch import launch as launch_openai

RESULT_KEYS = {
    "model",
    "items",
    "score",
    "score_low",
    "score_high",
    "rank",
    "rank_low",
    "rank_high",
    "tier",
    "dropped_at_stage",
}


def cli_json(*args: str) -> dict:
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def half_the_models(store: Path, benchmark: str) -> list[str]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        models = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT model FROM rollouts WHERE benchmark = ? ORDER BY 1", [benchmark]
            ).fetchall()
        ]
    finally:
        conn.close()
    return models[::2]


def planned_and_replayed(
    store: Path, folder: Path, strategy: str, budget: str, *who: str
) -> tuple[Path, dict]:
    """A plan for ``who`` (default: half of SWE-bench Verified's models) replayed on the store."""
    plan = folder / f"{strategy}.json"
    chosen = list(who) or ["--candidates", ",".join(half_the_models(store, "swe-bench-verified"))]
    made = run_cli(
        "plan",
        "--store",
        str(store),
        "--benchmark",
        "swe-bench-verified",
        "--budget",
        budget,
        *chosen,
        "--strategy",
        strategy,
        "--replicates",
        "40",
        "--out",
        str(plan),
    )
    assert made.returncode == 0, made.stderr
    launched = cli_json("launch", str(plan), "--backend", "replay", "--store", str(store))
    return plan, launched


def test_a_replayed_plans_results_are_the_simulators_estimates_with_intervals_ranks_and_tiers(
    store_path: Path, tmp_path: Path
) -> None:
    plan_path, launched = planned_and_replayed(store_path, tmp_path, "discriminative", "$100")
    report = cli_json("results", str(plan_path), "--store", str(store_path))
    assert {"plan", "benchmark", "strategy", "spend_usd", "predicted_fidelity", "models"} <= report.keys()
    assert report["spend_usd"] == pytest.approx(launched["spend_usd"]) and report["intervals"] == "calibrated"
    plan, _ = read_plan(plan_path)
    assert report["predicted_fidelity"] == plan.predicted_fidelity.kendall_tau.model_dump()  # type: ignore[union-attr]
    # the plan's own estimator: what the simulator estimates for the same plan on the same results
    conn = duckdb.connect(str(store_path), read_only=True)
    data = load_benchmark(conn, "swe-bench-verified", without_plan=report["plan"])
    everything = load_benchmark(conn, "swe-bench-verified")
    conn.close()
    # a replayed launch copies stored rollouts: it is never history of its own (nor a second scaffold)
    assert (everything.n_candidates, everything.n_items) == (data.n_candidates, data.n_items) == (24, 500)
    simulated = dict(zip(plan.candidates, np.clip(replay(plan, data).estimates, 0, 1), strict=True))
    models = report["models"]
    assert len(models) == len(plan.candidates) and all(m.keys() >= RESULT_KEYS for m in models)
    for m in models:
        assert m["score"] == pytest.approx(
            simulated[next(c for c in plan.candidates if c.model == m["model"])]
        )
        assert m["score_low"] <= m["score"] <= m["score_high"]
        assert m["rank_low"] <= m["rank"] <= m["rank_high"]
        assert m["items"] == len(plan.stages[0].item_ids)
    assert [m["rank"] for m in models] == list(range(1, len(models) + 1))
    assert [m["tier"] for m in models] == sorted(m["tier"] for m in models) and models[0]["tier"] == 1

    text = run_cli("results", str(plan_path), "--store", str(store_path))
    assert text.returncode == 0 and "90% interval" in text.stdout and "calibrated by replaying" in text.stdout
    markdown = run_cli(
        "results", str(plan_path), "--store", str(store_path), "--markdown"
    ).stdout.splitlines()
    table = [line for line in markdown if line.startswith("|")]
    assert table[0].startswith("| rank | model | score |") and len(table) == 2 + len(models)


def test_a_staged_plans_results_say_where_each_candidate_was_dropped(
    store_path: Path, tmp_path: Path
) -> None:
    plan_path, launched = planned_and_replayed(store_path, tmp_path, "coarse-to-fine", "50%", "--all")
    report = cli_json("results", str(plan_path), "--store", str(store_path))
    stages = {s["stage"]: s for s in launched["stages"]}
    fine = {name for name in stages["fine"]["model_names"]}
    dropped = [m for m in report["models"] if m["dropped_at_stage"]]
    assert dropped and {m["model"] for m in dropped} == {m["model"] for m in report["models"]} - fine
    assert all(m["dropped_at_stage"] == "fine" and "95% interval" in m["dropped_because"] for m in dropped)
    kept = min(m["items"] for m in report["models"] if m["model"] in fine)
    assert all(m["items"] < kept for m in dropped)
    assert "dropped at fine:" in run_cli("results", str(plan_path), "--store", str(store_path)).stdout


def test_a_launch_stopped_by_the_cap_still_gets_results_that_say_what_is_missing(
    arith: dict[str, Path], tmp_path: Path
) -> None:
    items = [f"q{i}" for i in range(1, 6)] + ["chat"]
    arith["plan"] = write_plan(tmp_path / "three.json", items, models=("model-a", "model-b", "model-c"))
    arith["prices"].write_text(
        arith["prices"].read_text() + '[models."model-c"]\ninput_mtok = 100\noutput_mtok = 1000\n'
    )
    with fault_server() as (url, _):
        capped = launch_openai(arith, url, "--max-spend", "0.02", "--concurrency", "1")
    assert capped.returncode == 3, capped.stderr
    done = json.loads(capped.stdout)["completed"]
    assert 0 < done < 18
    result = run_cli("results", str(arith["plan"]), "--store", str(arith["store"]))
    assert result.returncode == 0, result.stderr
    assert f"{18 - done} of the 18 planned rollouts did not run" in result.stdout
    report = cli_json("results", str(arith["plan"]), "--store", str(arith["store"]))
    assert report["intervals"].startswith("none:")  # a hand-written plan: no strategy to calibrate by
    evaluated = [m for m in report["models"] if m["evaluated"]]
    assert sum(m["rollouts"] for m in report["models"]) == done and evaluated
    idle = [m["model"] for m in report["models"] if not m["evaluated"]]
    if idle:
        assert f"not evaluated: {', '.join(idle)}" in report["missing"]
        assert "not evaluated" in result.stdout


def test_results_of_a_plan_never_launched_is_one_sentence(store_path: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", ["q1"])
    result = run_cli("results", str(plan), "--store", str(store_path))
    assert result.returncode == 1 and "holds no launch of this plan" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("benchmark", "strategy"),
    [
        (benchmark, strategy)
        for benchmark in ("swe-bench-verified", "alpaca-eval-2")
        for strategy in (
            "random",
            "prefix",
            "stratified",
            "cost-aware",
            "discriminative",
            "anchor",
            "irt",
            "coarse-to-fine",
        )
    ],
)
def test_the_intervals_hold_over_forty_replayed_splits(
    store_path: Path, benchmark: str, strategy: str
) -> None:
    """Plans for random halves of the models (the rest their history), replayed on the candidates' real
    results: the 90% intervals cover the full-data scores 85-95% of the time (a little slack for 40 splits'
    noise), tiers never split candidates with equal full-data scores, and the estimated ranking's tau falls
    inside the plan's predicted 90% interval about as often as it should."""
    conn = duckdb.connect(str(store_path), read_only=True)
    data = load_benchmark(conn, benchmark)
    conn.close()
    fitting = strategy_spec(strategy).fits_per_replicate
    # plans as the planner makes them (200 replicates); 20 for anchor and IRT, which fit a model per replicate
    check = interval_coverage(data, strategy, splits=40, plan_replicates=20 if fitting else None)
    low, high = COVERAGE_TARGET
    assert low - 0.02 <= check.coverage <= high + 0.02, check
    assert check.equal_split_by_tiers == 0, check
    # tau inside the predicted 90% interval: about nominal; a 20-replicate interval is noisier (narrower)
    assert check.tau_inside >= (0.7 if fitting else 0.8), check


def test_intervals_are_shown_only_for_a_strategy_whose_last_check_did_not_miss(
    store_path: Path, tmp_path: Path
) -> None:
    plan_path, _ = planned_and_replayed(store_path, tmp_path, "random", "$50")
    first = cli_json("results", str(plan_path), "--store", str(store_path))
    assert (
        first["intervals"] == "calibrated"
        and "not checked on swe-bench-verified yet" in first["interval_check"]
    )

    checked = cli_json(
        "results",
        "--coverage",
        "swe-bench-verified",
        "--strategy",
        "random",
        "--splits",
        "3",
        "--store",
        str(store_path),
    )
    assert [c["strategy"] for c in checked] == ["random"] and checked[0]["splits"] == 3
    after = cli_json("results", str(plan_path), "--store", str(store_path))
    assert after["interval_check"].startswith(
        f"checked on swe-bench-verified: they covered {checked[0]['coverage']:.0%}"
    )

    narrow = CoverageCheck(
        benchmark="swe-bench-verified",
        strategy="random",
        budget="10%",
        splits=40,
        coverage=0.61,
        width=0.1,
        tau_inside=0.5,
        equal_split_by_tiers=0,
    )
    conn = duckdb.connect(str(store_path))
    record_check(conn, narrow)
    conn.close()
    refused = cli_json("results", str(plan_path), "--store", str(store_path))
    assert (
        refused["intervals"].startswith("none: when checked on swe-bench-verified")
        and "61%" in refused["intervals"]
    )
    assert all(
        m["score"] is not None and m["score_low"] is None and m["tier"] is None for m in refused["models"]
    )
    text = run_cli("results", str(plan_path), "--store", str(store_path)).stdout
    assert "so none are shown" in text
