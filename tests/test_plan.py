"""`evalbudget plan`: the chosen strategy, the plan file, new candidates' costs, and whether the predicted
fidelity interval holds up when plans are replayed on held-out models."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from evalbudget.engine.plan import Plan, make_plan, replay, subset
from evalbudget.engine.sim import load_benchmark, parse_budget
from evalbudget.engine.sim.metrics import kendall_tau
from tests.conftest import run_cli


def test_plan_for_every_swe_bench_verified_model(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = run_cli(
        "plan",
        "--store",
        str(store_path),
        "--benchmark",
        "swe-bench-verified",
        "--budget",
        "10%",
        "--all",
        "--out",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    plan = Plan.model_validate_json(out.read_text())
    assert json.loads(result.stdout) == json.loads(out.read_text())
    assert plan.version == 1 and plan.objective == "ranking" and len(plan.candidates) == 24
    best = max(plan.alternatives, key=lambda a: a.kendall_tau_mean)
    assert plan.strategy == best.strategy
    # leave-models-out at half the models, 10% of the full dollar cost: the pick ranks at tau >= 0.88
    assert plan.simulation["holdout_models"] == pytest.approx(0.5)
    assert plan.predicted_fidelity.kendall_tau.mean >= 0.88
    random = next(a for a in plan.alternatives if a.strategy == "random")
    assert random.kendall_tau_mean < plan.predicted_fidelity.kendall_tau.mean
    (stage,) = plan.stages
    assert stage.models == plan.candidates and stage.repeats == 1 and len(stage.item_ids) > 20
    # the slice's cost at the store's recorded prices fits the budget
    conn = duckdb.connect(str(store_path), read_only=True)
    (spent,) = conn.execute(
        "SELECT sum(cost_usd) FROM rollouts WHERE benchmark = 'swe-bench-verified' AND list_contains(?, item_id)",
        [stage.item_ids],
    ).fetchone()
    conn.close()
    assert spent == pytest.approx(plan.predicted_cost.mean) and spent <= plan.budget_units


def test_top1_objective_and_a_text_plan(store_path: Path) -> None:
    result = run_cli(
        "plan",
        "--store",
        str(store_path),
        "--benchmark",
        "swe-bench-verified",
        "--budget",
        "$150",
        "--candidates",
        "o3 (2025-04-16),GPT-5 (2025-08-07) (medium reasoning),Kimi K2 Instruct,Minimax M2",
        "--objective",
        "top1",
        "--replicates",
        "50",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "strategy" in result.stdout
        and "fidelity   Kendall tau" in result.stdout
        and "stage " in result.stdout
    )


def test_new_candidates_get_costs_from_tokens_times_price(store_path: Path) -> None:
    result = run_cli(
        "plan",
        "--store",
        str(store_path),
        "--benchmark",
        "swe-bench-pro-public",
        "--budget",
        "$300",
        "--candidates",
        "GPT-5,new:claude-opus-4-1",
        "--replicates",
        "30",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    items = plan["stages"][0]["item_ids"]
    conn = duckdb.connect(str(store_path), read_only=True)
    tokens = dict(
        (r[0], (r[1], r[2]))
        for r in conn.execute(
            """SELECT item_id, avg(input_tokens), avg(output_tokens) FROM rollouts
               WHERE benchmark = 'swe-bench-pro-public' GROUP BY item_id"""
        ).fetchall()
    )
    gpt5 = dict(
        conn.execute(
            "SELECT item_id, cost_usd FROM rollouts WHERE benchmark = 'swe-bench-pro-public' AND model = 'GPT-5'"
        ).fetchall()
    )
    conn.close()
    opus = sum((tokens[i][0] * 15 + tokens[i][1] * 75) / 1e6 for i in items)  # Claude Opus 4.1: $15/$75
    assert plan["stages"][0]["models"] == ["GPT-5", "claude-opus-4-1"]
    assert plan["predicted_cost"]["mean"] == pytest.approx(opus + sum(gpt5[i] for i in items))
    assert plan["predicted_cost"]["mean"] <= 300


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--benchmark", "swe-bench-verified", "--budget", "$50", "--candidates", "new:claude-opus-4-1"],
            "has no token counts",
        ),
        (
            ["--benchmark", "swe-bench-pro-public", "--budget", "$50", "--candidates", "new:NullModel"],
            "'NullModel' has no price",
        ),
        (
            ["--benchmark", "swe-bench-verified", "--budget", "$50", "--candidates", "gpt-5-mini,o3"],
            "did you mean 'GPT-5 mini (2025-08-07) (medium reasoning)'",
        ),
        (
            ["--benchmark", "swe-bench-verified", "--budget", "$50", "--candidates", "zzyzx"],
            "name it as 'new:zzyzx'",
        ),
        (
            [
                "--benchmark",
                "swe-bench-verified",
                "--budget",
                "$50",
                "--candidates",
                "new:claude-opus-4-1",
                "--cost-like",
                "NullModel",
            ],
            "'NullModel' is not a model the store on swe-bench-verified holds; name it",
        ),
        (["--benchmark", "swe-bench-verified", "--budget", "-5", "--all"], "Budget '-5' is not one of"),
        (["--benchmark", "metr-hcast-rebench", "--budget", "$5", "--all"], "has no cost data"),
    ],
)
def test_bad_plans_are_one_sentence(store_path: Path, args: list[str], expected: str) -> None:
    result = run_cli("plan", "--store", str(store_path), "--replicates", "10", *args)
    assert result.returncode == 1 and expected in result.stderr and result.stderr.count("\n") == 1


def test_a_new_model_on_a_benchmark_without_tokens_costs_like_a_stored_one(store_path: Path) -> None:
    """SWE-bench Verified records dollars but no tokens: a new model is costed like a stored model it names,
    scaled by the ratio of their blended prices, and the plan says so."""
    from evalbudget.engine.prices import load_price_book
    from evalbudget.pricing import price_ratio

    like = "Claude 4 Opus (20250514)"
    result = run_cli(
        "plan", "--store", str(store_path), "--benchmark", "swe-bench-verified", "--budget", "$100",
        "--candidates", "new:claude-sonnet-4-5,o3 (2025-04-16)", "--cost-like", "claude 4 opus", "--replicates", "20",
        "--json",
    )  # fmt: skip
    assert result.returncode == 1 and f"did you mean {like!r}" in result.stderr  # the fallback is matched too
    result = run_cli(
        "plan", "--store", str(store_path), "--benchmark", "swe-bench-verified", "--budget", "$100",
        "--candidates", "new:claude-sonnet-4-5,o3 (2025-04-16)", "--cost-like", like, "--replicates", "20",
        "--strategy", "random", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    # a model new to the store is planned for as a new frontier model (--holdout-split auto)
    assert plan["simulation"]["holdout_split"] == "strongest"
    book = load_price_book()
    ratio = price_ratio(book.resolve("claude-sonnet-4-5").card, book.resolve(like).card)
    assert ratio is not None and 0 < ratio < 1  # Sonnet costs less than Opus
    (note,) = plan["cost_notes"]
    assert f"'claude-sonnet-4-5' costs each item like '{like}' x {ratio:.3g}" in note
    conn = duckdb.connect(str(store_path), read_only=True)
    opus = dict(
        conn.execute(
            "SELECT item_id, avg(cost_usd) FROM rollouts WHERE benchmark = 'swe-bench-verified' AND model = ? "
            "GROUP BY item_id",
            [like],
        ).fetchall()
    )
    conn.close()
    ran = [i for stage in plan["stages"] for i in stage["item_ids"]]
    assert ran and plan["predicted_cost"]["mean"] > 0
    # the new candidate's share of the predicted cost is Opus's cost of the same items x the ratio
    sonnet = sum(opus[i] for i in set(ran)) * ratio
    assert sonnet <= plan["predicted_cost"]["mean"] + 1e-9


def test_the_predicted_interval_holds_up_on_held_out_models(store_path: Path) -> None:
    """Plan for half the models with only the other half visible, then replay the plan on the hidden
    models' real results: the realised tau lands in the predicted 90% interval in at least 85% of splits."""
    conn = duckdb.connect(str(store_path), read_only=True)
    data = load_benchmark(conn, "swe-bench-verified")
    conn.close()
    truth = data.full_scores()
    splits, inside = 40, 0
    for split in range(splits):
        rng = np.random.default_rng(100 + split)
        rows = np.sort(rng.choice(data.n_candidates, 12, replace=False))
        visible = subset(data, [i for i in range(data.n_candidates) if i not in rows])
        candidates = [data.candidates[i] for i in rows]
        plan = make_plan(
            visible,
            candidates,
            parse_budget("10%"),
            predicted_costs=data.unit_costs()[rows],
            replicates=60,
            seed=split,
        )
        replayed = replay(plan, data)
        if not any(stage.until_budget for stage in plan.stages):
            # fixed lists (no stages chosen from the candidates' results): the candidates' results chose nothing
            assert sorted(replayed.item_ids) == sorted(plan.stages[0].item_ids)
        tau = kendall_tau(truth[rows], replayed.estimates[None, :], np.ones((1, rows.size), dtype=bool))[0]
        inside += plan.predicted_fidelity.kendall_tau.p05 <= tau <= plan.predicted_fidelity.kendall_tau.p95
    print(f"realised tau inside the predicted 90% interval in {inside} of {splits} splits")
    assert inside / splits >= 0.85


def test_a_candidate_is_a_model_and_a_scaffold_never_a_split_string() -> None:
    """Model ids can hold '@': a candidate is resolved against the store, and written to a plan as a name
    (no scaffold) or as an object (with one)."""
    from evalbudget.engine.candidates import Candidate, candidate, resolve
    from evalbudget.engine.errors import InputError

    known = [candidate("org/model@v2"), candidate("gpt-4o", "whole"), candidate("gpt-4o", "diff")]
    assert resolve(["org/model@v2"], known) == [candidate("org/model@v2")]
    assert resolve(["gpt-4o@diff", " gpt-4o@diff "], known) == [candidate("gpt-4o", "diff")]
    assert resolve(["new:new@model"], known) == [candidate("new@model")]  # a new model keeps its whole name
    with pytest.raises(InputError, match="did you mean 'org/model@v2'"):
        resolve(["org-model@v2"], known)  # a near miss is never taken for a new model
    with pytest.raises(InputError, match="already holds"):
        resolve(["new:org/model@v2"], known)
    assert resolve(["anything"], [], all_new=True) == [candidate("anything")]  # no results: every name is new
    with pytest.raises(InputError, match="several scaffolds"):
        resolve(["gpt-4o"], known)
    plan = Plan(
        benchmark="b",
        budget_units=1.0,
        stages=[
            {
                "name": "main",
                "models": ["org/model@v2", {"model": "gpt-4o", "scaffold": "diff"}],
                "item_ids": ["x"],
            }
        ],
    )
    assert plan.candidates == [candidate("org/model@v2"), candidate("gpt-4o", "diff")]
    written = json.loads(plan.model_dump_json())
    assert written["candidates"] == ["org/model@v2", {"model": "gpt-4o", "scaffold": "diff"}]
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
    assert str(Candidate(model="gpt-4o", scaffold="diff")) == "gpt-4o [diff]"


def test_the_top1_objective_chooses_a_strategy_aimed_at_the_winner(store_path: Path) -> None:
    """--objective top1 ranks the strategies by simulated top-1 recovery: on AlpacaEval a strategy that races
    for the winner on shared items (dropping candidates as they fall behind) finds it more often than random
    items at the same cost, and its top-1 recovery is what the plan reports."""
    result = run_cli(
        "plan", "--store", str(store_path), "--benchmark", "alpaca-eval-2", "--budget", "5%", "--all",
        "--objective", "top1", "--replicates", "60", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["objective"] == "top1"
    assert plan["strategy"] in {"racing", "successive-halving", "coarse-to-fine"}
    by_name = {a["strategy"]: a for a in plan["alternatives"]}
    chosen = by_name[plan["strategy"]]
    assert chosen["top1_recovery"] == max(a["top1_recovery"] for a in plan["alternatives"])
    assert chosen["top1_recovery"] > by_name["random"]["top1_recovery"]
    assert plan["predicted_fidelity"]["top1_recovery"] == chosen["top1_recovery"]


def test_the_separate_objective_tells_apart_models_that_far_apart(store_path: Path) -> None:
    """--objective separate --difference D: the strategies are ranked by the share of candidate pairs at least
    D apart (full data) that they order right, which the plan reports; D is required, and only with it."""
    args = ["plan", "--store", str(store_path), "--benchmark", "swe-bench-verified", "--budget", "10%", "--all"]  # fmt: skip
    result = run_cli(*args, "--objective", "separate", "--difference", "0.05", "--replicates", "40", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    fidelity = plan["predicted_fidelity"]
    assert plan["objective"] == "separate" and fidelity["difference"] == 0.05
    shares = [a["separated"] for a in plan["alternatives"]]
    assert all(0 <= s <= 1 for s in shares) and fidelity["separated"] == max(shares) == shares[0]
    # pairs 5 points apart are easier to order than the whole ranking
    assert fidelity["separated"] > (fidelity["kendall_tau"]["mean"] + 1) / 2
    shown = run_cli(*args, "--objective", "separate", "--difference", "0.05", "--replicates", "40")
    assert "pairs at least 0.05 apart ordered right" in shown.stdout
    missing = run_cli(*args, "--objective", "separate")
    assert missing.returncode == 1 and "needs --difference" in missing.stderr
    stray = run_cli(*args, "--difference", "0.05")
    assert stray.returncode == 1 and "--difference is for --objective separate" in stray.stderr
