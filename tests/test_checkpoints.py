"""Checkpoint series (issue 15): the Pythia series in the sample store, `checkpoints simulate` (leave one series
out), its strategies and its GPU-hour costs."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from evalbudget.engine.checkpoints import (
    Curve,
    checkpoint_gpu_hours,
    load_series,
    params_from_name,
    tokens_per_item,
)
from evalbudget.engine.errors import InputError
from evalbudget.engine.prices import load_price_book
from evalbudget.engine.records import CHECKPOINTS, RUNS
from evalbudget.engine.sim.checkpoints import (
    Choice,
    _predict,
    _stacking_weight,
    conditional_mean,
    dry_run_error,
    history_order,
    log_picks,
    observe,
    predict_curve,
    sampling_variance,
    shape_prior,
    simulate_checkpoints,
    uniform_picks,
)
from evalbudget.engine.store import migrate
from evalbudget.sample_runs import checkpoint_files
from tests.conftest import fingerprint, run_cli

THREE = ("EleutherAI/pythia-v1.1-160m", "EleutherAI/pythia-v1.1-410m", "EleutherAI/pythia-v1.1-1.4b")


@pytest.fixture
def three_series(tmp_path: Path) -> Path:
    """A store holding three real Pythia series (zero-shot), from the bundled sample data."""
    path = tmp_path / "three.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn)
    (sample,) = checkpoint_files()
    where = f"series IN {THREE!r} AND scaffold = ''"
    conn.execute(
        f"""
        {
            RUNS.insert(
                (
                    "run_id",
                    "source",
                    "harness",
                    "imported_at",
                    "aggregate_only",
                    "benchmark",
                    "model",
                    "scaffold",
                    "n_items",
                    "accuracy",
                )
            )
        }
        SELECT run_id, source, harness, now(), true, benchmark, model, scaffold, n_items, accuracy
        FROM read_parquet(?) WHERE {where}
        """,
        [str(sample)],
    )
    conn.execute(
        f"{CHECKPOINTS.insert()} SELECT DISTINCT model, series, step, final_step, tokens_seen "
        f"FROM read_parquet(?) WHERE {where}",
        [str(sample)],
    )
    conn.close()
    return path


def simulate_json(store: Path, *args: str) -> dict:
    result = run_cli("checkpoints", "simulate", "--store", str(store), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_sample_store_holds_the_pythia_series(store_path: Path) -> None:
    info = json.loads(run_cli("info", "--store", str(store_path), "--json").stdout)
    series = info["checkpoint_series"]
    assert len(series) == 16
    assert {s["checkpoints"] for s in series} == {27}
    assert {(s["first_step"], s["last_step"]) for s in series} == {(0, 143000)}
    conn = duckdb.connect(str(store_path), read_only=True)
    rows = conn.execute(
        "SELECT step, final_step, tokens_seen FROM checkpoints WHERE series = 'EleutherAI/pythia-v1.1-70m' "
        "ORDER BY step"
    ).fetchall()
    five = conn.execute(
        "SELECT count(DISTINCT model) FROM runs WHERE scaffold = '5-shot' AND model LIKE 'EleutherAI/pythia%'"
    ).fetchone()
    conn.close()
    assert [r[0] for r in rows][:4] == [0, 1, 2, 4] and rows[-1] == (143000, 143000, 143000 * 2_097_152)
    assert all(final == 143000 and tokens == step * 2_097_152 for step, final, tokens in rows)
    assert five == (16 * 15,)  # 15 five-shot checkpoints per series


def test_simulate_on_three_real_series(three_series: Path) -> None:
    report = simulate_json(three_series, "--benchmark", "arc_easy", "--budget", "20%", "--budget", "100%")
    assert report["benchmark"] == "arc_easy" and sorted(report["series"]) == sorted(THREE)
    rows = {(r["strategy"], r["budget"]): r for r in report["results"]}
    assert set(rows) == {(s, b) for s in ("all", "uniform", "log", "history") for b in ("20%", "100%")}
    for (_, budget), row in rows.items():
        assert set(row) >= {
            "strategy",
            "budget",
            "checkpoints_per_series",
            "items_fraction",
            "cost_share",
            "curve_mae",
            "final_score_error",
            "rank_tau",
        }
        assert row["cost_share"] <= (0.2 if budget == "20%" else 1.0) + 1e-9
        assert 0 <= row["curve_mae"]["mean"] <= row["curve_mae"]["p95"] + 1e-12
    # the whole budget buys every checkpoint on every item: the curve is the real one
    for strategy in ("all", "uniform", "log", "history"):
        whole = rows[(strategy, "100%")]
        assert whole["checkpoints_per_series"]["mean"] == 27 and whole["items_fraction"] == 1.0
        assert (
            whole["curve_mae"]["mean"] == 0 and whole["final_score_error"] == 0 and whole["rank_tau"] == 1.0
        )
    assert rows[("all", "20%")]["checkpoints_per_series"]["mean"] == 27
    assert rows[("all", "20%")]["items_fraction"] == 0.2
    assert rows[("all", "20%")]["curve_mae"]["mean"] > 0


def test_uniform_on_every_item_is_interpolation_in_progress(three_series: Path) -> None:
    """Checked against a computation of its own: every k-th checkpoint, the rest read off straight lines in
    step / final step."""
    conn = duckdb.connect(str(three_series), read_only=True)
    data = load_series(conn, "piqa")
    conn.close()
    report = simulate_checkpoints(
        data, strategies=["uniform"], budgets=["20%"], shares={"20%": [0.2] * 3}, fractions=(1.0,)
    )
    (result,) = report.results
    maes, finals = [], []
    for curve in data.curves:
        n = len(curve.steps)
        keep = sorted({round(i * (n - 1) / (int(0.2 * n) - 1)) for i in range(int(0.2 * n))})
        assert keep[0] == 0 and keep[-1] == n - 1
        progress = curve.steps / 143000
        predicted = np.interp(progress, progress[keep], curve.scores[keep])
        maes.append(np.abs(predicted - curve.scores).mean())
        finals.append(abs(predicted[-1] - curve.scores[-1]))
    assert result.checkpoints_per_series == int(0.2 * 27)
    assert result.curve_mae_mean == pytest.approx(np.mean(maes), abs=1e-12)
    assert result.final_score_error == pytest.approx(np.mean(finals), abs=1e-12) == 0


def test_picks() -> None:
    assert uniform_picks(27, 5).tolist() == [0, 6, 13, 20, 26]
    steps = np.array([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 3000, 13000, 23000, 33000, 143000])
    picks = log_picks(steps, 5)
    assert len(set(picks.tolist())) == 5 and picks[0] == 0 and picks[-1] == len(steps) - 1
    # log-spaced: as many picks below step 64 as above it
    assert (steps[picks] < 64).sum() >= 2


def test_a_curve_shaped_like_the_history_is_predicted_better_with_the_prior() -> None:
    progress = np.linspace(0, 1, 27) ** 2
    shape = 1 - np.exp(-8 * np.sqrt(progress))
    history = np.array([0.25 + s * shape for s in (0.2, 0.3, 0.4, 0.5)])
    target = 0.25 + 0.35 * shape
    picks = np.array([0, 9, 18, 26])
    prior = shape_prior(progress, picks, target[picks][None, :], history)[0]
    straight = np.interp(progress, progress[picks], target[picks])
    assert np.allclose(prior[picks], target[picks])  # through what was observed
    assert np.abs(prior - target).mean() < 0.2 * np.abs(straight - target).mean()
    # the history's own hardest point is chosen first: where the curves bend, not on the flat tail
    order = history_order(progress, history, 3)
    assert order[:2] == [0, 26] and progress[order[2]] < 0.3


def test_the_conditional_mean_learns_how_checkpoints_move_together() -> None:
    """Curves that differ by how much of a late rise they get (not by an affine map of one shape, which the
    shape prior assumes): the history's covariance says what the late checkpoints do from the early ones. A
    curve left out with ``own`` is predicted from the others alone."""
    progress = np.linspace(0, 1, 27)
    base, rise = 0.3 + 0.2 * np.sqrt(progress), progress**3
    rng = np.random.default_rng(0)
    history = np.array([base + z * rise for z in rng.normal(0.2, 0.1, size=12)])
    target = base + 0.35 * rise
    picks = np.array([0, 13, 20])
    predicted = conditional_mean(picks, target[picks][None, :], history)[0]
    straight = np.interp(progress, progress[picks], target[picks])
    shaped = shape_prior(progress, picks, target[picks][None, :], history)[0]
    assert np.abs(predicted - target).max() < 0.005  # interpolation is off by 0.2, the shape prior by 0.02
    assert np.abs(straight - target).max() > 0.1 and np.abs(shaped - target).max() > 0.01
    # sampling noise on the observed scores pulls the prediction toward the history's mean curve
    noisy = conditional_mean(picks, target[picks][None, :], history, noise=np.full((1, 3), 0.01))[0]
    mean = history.mean(axis=0)
    assert np.abs(noisy - mean).mean() < np.abs(predicted - mean).mean()
    # history's prediction weighs the two by how each predicted the history's own curves, checkpoint by
    # checkpoint: here the conditional mean, almost wholly, away from the evaluated points
    weight = _stacking_weight(progress, picks, history, 0.3)
    unpicked = np.setdiff1d(np.arange(len(progress)), picks)
    assert weight[unpicked].mean() > 0.8
    blended = _predict("history", progress, picks, target[picks][None, :], history)[0]
    assert np.abs(blended - target).max() < 0.005
    # own: curve 3 predicted from the other eleven, not from a covariance that contains it
    alone = conditional_mean(picks, history[[3]][:, picks], history, own=np.array([3]))[0]
    without = conditional_mean(picks, history[[3]][:, picks], np.delete(history, 3, axis=0))[0]
    assert np.allclose(alone, without)


def test_a_dry_run_draws_the_plans_share_of_items() -> None:
    """The app's dry run on a stored run scores its plan as a launch would run it: on every item it is the
    error of the curve predicted from the recorded scores; on a share of the items, draws of that share add
    their sampling error."""
    progress = np.linspace(0, 1, 15)

    def curve(name: str, level: float) -> Curve:
        steps = np.arange(15) * 1000
        scores = np.clip(0.25 + level * (1 - np.exp(-5 * progress)) + 0.01 * np.sin(7 * progress), 0, 1)
        models = tuple(f"{name}@step{s}" for s in steps)
        return Curve(name, models, steps, progress, scores, np.full(15, 400), None)

    run, history = curve("run", 0.4), [curve(f"h{k}", 0.2 + 0.1 * k) for k in range(4)]
    picks = np.array([0, 4, 9, 14])
    whole = dry_run_error("history", run, history, Choice(picks, 1.0))
    predicted = predict_curve("history", run, history, Choice(picks, 1.0))
    assert whole == pytest.approx(float(np.abs(predicted - run.scores).mean()))
    assert dry_run_error("history", run, history, Choice(picks, 0.1)) > whole + 0.005


def test_a_share_of_items_is_a_draw_without_replacement() -> None:
    rng = np.random.default_rng(1)
    scores, items = np.array([0.3, 0.7]), np.array([1000, 200])
    assert np.array_equal(observe(scores, items, 1.0, rng, 5), scores[None, :])
    drawn = observe(scores, items, 0.25, rng, 20000)
    assert np.allclose(drawn.mean(axis=0), scores, atol=0.005)
    expected = sampling_variance(scores, items, 0.25)
    assert expected is not None and np.allclose(drawn.var(axis=0), expected, rtol=0.1)
    # the whole sample has no noise: n - k = 0
    assert np.allclose(observe(scores, items, 0.999999, rng, 10), scores)


def test_gpu_hours_and_names() -> None:
    assert params_from_name("EleutherAI/pythia-v1.1-1.4b-deduped") == pytest.approx(1.4e9)
    assert params_from_name("EleutherAI/pythia-v1.1-1b-bf16") == pytest.approx(1e9)
    assert params_from_name("EleutherAI/pythia-v1.1-70m") == pytest.approx(7e7)
    assert params_from_name("gpt2") is None
    assert tokens_per_item("hendrycksTest-anatomy", "5-shot") == 360 * 6
    assert tokens_per_item("some_new_task", "") == 200
    card = load_price_book().gpus["H100"]
    assert card.bf16_tflops == 989


def test_budgets_in_gpu_hours_and_dollars_buy_the_same(three_series: Path) -> None:
    conn = duckdb.connect(str(three_series), read_only=True)
    data = load_series(conn, "lambada_openai")
    conn.close()
    card = load_price_book().gpus["H100"]
    per_checkpoint = {c.series: checkpoint_gpu_hours(c, "lambada_openai", "", card) for c in data.curves}
    # 2 x 1.4e9 params x 5,153 items x 80 tokens at 989 TFLOP/s x 0.3, in hours
    expected = 2 * 1.4e9 * 5153 * 80 / (989e12 * 0.3) / 3600
    assert per_checkpoint["EleutherAI/pythia-v1.1-1.4b"] == pytest.approx(expected, rel=1e-9)
    budget = round(per_checkpoint["EleutherAI/pythia-v1.1-410m"] * 27 * 0.3, 4)  # 30% of the 410m series
    hours = simulate_json(three_series, "--benchmark", "lambada_openai", "--budget", f"{budget!r}gpu-h")
    dollars = simulate_json(
        three_series, "--benchmark", "lambada_openai", "--budget", f"${budget * card.usd_per_hour!r}"
    )
    strip = [{k: v for k, v in r.items() if k != "budget"} for r in hours["results"]]
    assert strip == [{k: v for k, v in r.items() if k != "budget"} for r in dollars["results"]]
    for row in hours["results"]:
        assert row["gpu_hours"] <= budget * (1 + 1e-6)
    # 30% of the 410m series: all of the 160m one, a third of that of the 1.4b one; "all" spends it on items
    shares = {(r["strategy"]): r["cost_share"] for r in hours["results"]}
    assert 0.1 < shares["all"] < 1.0


def test_bad_input_is_one_sentence(three_series: Path) -> None:
    before = fingerprint(three_series)
    cases = [
        (("--benchmark", "nope"), "No checkpoint series has results on benchmark 'nope'"),
        (("--benchmark", "piqa", "--strategy", "every"), "Unknown checkpoint strategy 'every'"),
        (("--benchmark", "piqa", "--params", "big"), "--params 'big' is not a parameter count"),
        (("--benchmark", "piqa", "--budget", "lots"), "Budget 'lots' is not one of"),
        (("--benchmark", "piqa", "--gpu-type", "TPU"), "TPU"),
        (("--benchmark", "piqa", "--utilisation", "2"), "--utilisation 2 must be in (0, 1]"),
    ]
    for args, sentence in cases:
        result = run_cli("checkpoints", "simulate", "--store", str(three_series), *args)
        assert result.returncode == 1, (args, result.stderr)
        assert sentence in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert fingerprint(three_series) == before


def test_a_series_of_unknown_size_needs_params_for_a_gpu_budget(tmp_path: Path) -> None:
    path = tmp_path / "unnamed.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn)
    for series in ("lab/run-a", "lab/run-b"):
        for step, score in ((0, 0.25), (500, 0.4), (1000, 0.5)):
            model = f"{series}@step{step}"
            conn.execute(
                f"{RUNS.insert(('run_id', 'source', 'harness', 'imported_at', 'aggregate_only', 'benchmark', 'model', 'n_items', 'accuracy'))} "
                "VALUES (?, 'test', 'lm-eval', now(), true, 'piqa', ?, 100, ?)",
                [model, model, score],
            )
            conn.execute(
                f"{CHECKPOINTS.insert(('model', 'series', 'step'))} VALUES (?, ?, ?)", [model, series, step]
            )
    conn.close()
    refused = run_cli(
        "checkpoints", "simulate", "--store", str(path), "--benchmark", "piqa", "--budget", "1gpu-h"
    )
    assert refused.returncode == 1 and "give it with --params" in refused.stderr
    report = simulate_json(path, "--benchmark", "piqa", "--budget", "1gpu-h", "--params", "1b")
    assert {r["cost_share"] for r in report["results"]} == {1.0}  # 1 gpu-h buys all of it
    shares = simulate_json(path, "--benchmark", "piqa", "--budget", "50%")
    assert all(r["gpu_hours"] is None for r in shares["results"])  # the size is unknown: no GPU-hours
    with pytest.raises(InputError, match="two"):
        conn = duckdb.connect(str(path), read_only=True)
        try:
            load_series(conn, "piqa", min_checkpoints=4)
        finally:
            conn.close()


def write_curves(path: Path, series: list[str], steps: list[int], items: int = 60) -> None:
    """Per-item results of checkpoints (the table format's series and step columns): each series learns the task
    at its own pace, from chance (0.25) toward its ceiling."""
    rng = np.random.default_rng(7)
    lines = ["benchmark,item_id,model,score,series,step"]
    for rank, name in enumerate(series):
        ceiling, pace = 0.6 + 0.1 * rank, 2000 / (1 + rank)
        for step in steps:
            p = 0.25 + (ceiling - 0.25) * (1 - np.exp(-step / pace))
            for item in range(items):
                lines.append(f"toy-task,i{item:03d},{name}@step{step},{int(rng.random() < p)},{name},{step}")
    path.write_text("\n".join(lines) + "\n")


def test_a_checkpoint_plan_launches_with_the_replay_backend(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    conn = duckdb.connect(str(store))
    migrate(conn)
    conn.close()
    series = ["lab/run-a", "lab/run-b", "lab/run-c", "lab/run-d"]
    steps = [0, 100, 200, 400, 800, 1600, 3200, 6400, 10000]
    table = tmp_path / "curves.csv"
    write_curves(table, series, steps)
    ingested = run_cli("ingest", "--store", str(store), str(table))
    assert ingested.returncode == 0, ingested.stderr
    plan_path = tmp_path / "plan.json"
    made = run_cli(
        "checkpoints", "plan", "--store", str(store), "--series", "lab/run-b", "--benchmark", "toy-task",
        "--budget", "40%", "--out", str(plan_path),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "checkpoints on" in made.stdout and "curve      predicted within MAE" in made.stdout
    plan = json.loads(plan_path.read_text())
    chosen = plan["checkpoints"]
    assert chosen["steps"] == steps and chosen["chosen_steps"][0] == 0 and chosen["chosen_steps"][-1] == 10000
    assert chosen["history_series"] == ["lab/run-a", "lab/run-c", "lab/run-d"]
    (stage,) = plan["stages"]
    assert stage["models"] == [f"lab/run-b@step{s}" for s in chosen["chosen_steps"]]
    assert len(stage["item_ids"]) == chosen["items_per_checkpoint"] == round(60 * chosen["items_fraction"])
    assert chosen["share"] <= 0.4 + 1e-9 and plan["cost_unit"] == "rollouts"
    launched = run_cli("launch", str(plan_path), "--backend", "replay", "--store", str(store), "--json")
    assert launched.returncode == 0, launched.stderr
    report = json.loads(launched.stdout)
    units = len(stage["models"]) * len(stage["item_ids"])
    assert report["completed"] == units and report["missing"] == 0
    conn = duckdb.connect(str(store), read_only=True)
    replayed = conn.execute(
        "SELECT count(*), count(DISTINCT model), count(DISTINCT item_id) FROM rollouts WHERE run_id = ?",
        [report["run_id"]],
    ).fetchone()
    conn.close()
    assert replayed == (units, len(stage["models"]), len(stage["item_ids"]))


def test_planned_steps_and_a_run_new_to_the_store(three_series: Path) -> None:
    made = run_cli(
        "checkpoints", "plan", "--store", str(three_series), "--series", "lab/new-run-1b", "--benchmark",
        "arc_easy", "--every", "20000", "--final-step", "100000", "--budget", "0.002gpu-h", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    plan = json.loads(made.stdout)
    chosen = plan["checkpoints"]
    assert chosen["steps"] == [0, 20000, 40000, 60000, 80000, 100000]
    assert chosen["gpu_hours"] <= 0.002 and plan["budget_units"] == pytest.approx(0.002 * 2.5)
    assert sorted(chosen["history_series"]) == sorted(THREE)
    assert plan["stages"][0]["item_ids"] == []  # the sample holds results, not arc_easy's items
    refusals = [
        (
            ("--series", "lab/x", "--budget", "20%"),
            "has no checkpoints in the store: give its planned checkpoints",
        ),
        (("--series", "lab/x", "--every", "10", "--budget", "20%"), "--every needs --final-step"),
        (
            ("--series", "lab/x", "--steps", "0,a", "--budget", "20%"),
            "--steps '0,a' is not a comma-separated",
        ),
        (("--series", "lab/x", "--steps", "0,10", "--budget", "1gpu-h"), "give it with --params"),
    ]
    for args, sentence in refusals:
        result = run_cli(
            "checkpoints", "plan", "--store", str(three_series), "--benchmark", "arc_easy", *args
        )
        assert result.returncode == 1 and sentence in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1


def test_table_checkpoint_columns_are_checked(tmp_path: Path, store_path: Path) -> None:
    before = fingerprint(store_path)
    cases = {
        "benchmark,item_id,model,score,series,step\nb,1,m@1,1,m,1.5\n": "line 2: step '1.5' is not a whole number",
        "benchmark,item_id,model,score,series\nb,1,m@1,1,m\n": "has a 'series' column but no 'step' column",
        "benchmark,item_id,model,score,series,step\nb,1,m@1,1,m,\n": "line 2: a checkpoint needs both series and step",
        "benchmark,item_id,model,score,series,step\nb,1,m@1,1,m,1\nb,2,m@1,1,m,2\n": "is given two checkpoints",
    }
    for text, sentence in cases.items():
        path = tmp_path / "bad.csv"
        path.write_text(text)
        result = run_cli("ingest", "--store", str(store_path), str(path))
        assert result.returncode == 1 and sentence in result.stderr, (text, result.stderr)
    assert fingerprint(store_path) == before


def test_several_tasks_share_one_budget(three_series: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    made = run_cli(
        "checkpoints", "plan", "--store", str(three_series), "--series", "lab/new-410m", "--every", "20000",
        "--final-step", "140000", "--benchmark", "arc_easy", "--benchmark", "piqa", "--benchmark",
        "lambada_openai", "--budget", "0.002gpu-h", "--out", str(out),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    plans = {
        t: json.loads((tmp_path / f"run-{t}.json").read_text())
        for t in ("arc_easy", "piqa", "lambada_openai")
    }
    hours = [p["checkpoints"]["gpu_hours"] for p in plans.values()]
    assert sum(hours) <= 0.002 + 1e-12 and min(hours) > 0
    # every task gets the same share of its own full evaluation, and each plan's cap is its part of the budget
    caps = [p["budget_units"] for p in plans.values()]
    assert sum(caps) == pytest.approx(0.002 * 2.5) and all(
        p["budget"] == "0.002 gpu-h over 3 tasks" for p in plans.values()
    )
    assert not out.exists()
    twice = run_cli(
        "checkpoints", "plan", "--store", str(three_series), "--series", "lab/x-1b", "--steps", "0,10",
        "--benchmark", "piqa", "--benchmark", "piqa", "--budget", "20%",
    )  # fmt: skip
    assert twice.returncode == 1 and "A task is named twice." in twice.stderr
