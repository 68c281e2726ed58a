"""Strategies, fidelity metrics and `evalbudget simulate`: properties on synthetic data, figures on the sample."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from evalbudget.engine.candidates import candidate
from evalbudget.engine.errors import InputError
from evalbudget.engine.sim import BenchmarkData, load_benchmark, parse_budget, simulate
from evalbudget.engine.sim.metrics import fidelity, kendall_tau
from evalbudget.engine.sim.simulate import applicable_strategies, full_costs, make_context, run_strategy
from tests.conftest import run_cli


def synthetic(
    models: int, items: int, seed: int, *, repeats: int = 1, with_cost: bool = True
) -> BenchmarkData:
    """Scores from a logistic ability x difficulty model, costs that differ 20x between items."""
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=models)
    difficulty = rng.normal(size=items)
    p = 1 / (1 + np.exp(-(ability[:, None] - difficulty[None, :])))
    repeat_scores = (rng.random((models, items, repeats)) < p[..., None]).astype(np.float64)
    costs = (
        np.exp(rng.uniform(np.log(0.05), np.log(1.0), size=(models, items)))
        if with_cost
        else np.full((models, items), np.nan)
    )
    return BenchmarkData(
        benchmark="synthetic",
        candidates=[f"m{i}" for i in range(models)],
        items=[f"i{j}" for j in range(items)],
        strata=rng.integers(0, 3, size=items),
        stratum_names=["a", "b", "c"],
        scores=repeat_scores.mean(axis=2),
        costs=costs,
        repeat_scores=repeat_scores,
        has_cost=with_cost,
    )


@given(values=st.lists(st.integers(0, 5), min_size=3, max_size=12), replicate=st.integers(0, 10**6))
def test_kendall_tau_matches_scipy_tau_b(values: list[int], replicate: int) -> None:
    truth = np.array(values, dtype=np.float64)
    estimate = np.random.default_rng(replicate).integers(0, 4, size=truth.size).astype(np.float64)
    mask = np.ones((1, truth.size), dtype=bool)
    ours = kendall_tau(truth, estimate[None, :], mask)[0]
    theirs = kendalltau(truth, estimate).statistic
    if np.isnan(theirs):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("equal_counts", [True, False])
def test_kendall_tau_over_each_replicates_candidates(equal_counts: bool) -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 6, size=15).astype(np.float64)  # ties included
    estimates = rng.integers(0, 6, size=(40, 15)).astype(np.float64)
    if equal_counts:
        candidates = np.argsort(rng.random((40, 15)), axis=1) < 7
    else:
        candidates = rng.random((40, 15)) < 0.5
        candidates[:, :2] = True
    ours = kendall_tau(truth, estimates, candidates)
    for r in range(40):
        row = candidates[r]
        expected = kendalltau(truth[row], estimates[r, row]).statistic
        assert ours[r] == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_identical_rankings_give_tau_one() -> None:
    truth = np.array([0.1, 0.5, 0.3, 0.9, 0.7])
    estimates = np.vstack([truth, truth * 2 + 1])  # any increasing transform keeps the ranking
    result = fidelity(truth, estimates, np.ones_like(estimates, dtype=bool))
    assert result.kendall_tau.mean == 1.0 and result.kendall_tau.p05 == 1.0 and result.dior == 1.0
    assert result.top1_recovery == 1.0 and result.topk_overlap == 1.0 and result.max_rank_displacement == 0


def test_random_at_the_whole_budget_is_the_full_result(store_path: Path) -> None:
    conn = duckdb.connect(str(store_path), read_only=True)
    data = load_benchmark(conn, "swe-bench-verified")
    conn.close()
    report = simulate(data, strategies=["random"], budgets=[parse_budget("100%")], replicates=20, seed=3)
    (result,) = report.results
    assert result.kendall_tau.mean == pytest.approx(1.0) and result.mae == pytest.approx(0.0, abs=1e-12)
    assert result.cost_usd.mean == pytest.approx(report.full_cost_usd) and result.items_per_model.mean == 500
    assert report.full_cost_usd == pytest.approx(4152.9321344525, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    models=st.integers(6, 14),
    items=st.integers(20, 80),
    seed=st.integers(0, 10**6),
    share=st.floats(0.01, 1.0),
    holdout=st.sampled_from([None, 0.5]),
)
def test_no_strategy_spends_past_its_budget(
    models: int, items: int, seed: int, share: float, holdout: float | None
) -> None:
    data = synthetic(models, items, seed, repeats=2)
    ctx, _ = make_context(data, holdout=holdout, replicates=6, seed=seed)
    budget = full_costs(ctx) * share
    names = applicable_strategies(data, int(ctx.history.sum(axis=1).min()))
    assert {"discriminative", "anchor", "irt", "coarse-to-fine", "successive-halving", "repeats:2"} <= set(
        names
    )
    for name in names:
        outcome = run_strategy(ctx, name, budget)
        assert np.all(outcome.cost <= budget * (1 + 1e-9)), name
        if name == "full":  # every item or nothing: where the budget does not buy it all, nothing runs
            ran_nothing = ~outcome.selected.any(axis=1)
            assert np.all(outcome.selected.all(axis=1) | ran_nothing), name
            assert np.all(outcome.cost[ran_nothing] == 0), name
            if ran_nothing.any():
                continue
        assert np.all(np.isfinite(outcome.estimates[ctx.candidates])), name


@pytest.mark.parametrize("name", ["discriminative", "anchor", "irt"])
def test_poisoned_candidates_change_no_item_choice(name: str) -> None:
    data = synthetic(12, 60, seed=7)
    ctx, _ = make_context(data, holdout=0.5, replicates=1, seed=11)
    budget = full_costs(ctx) * 0.2
    before = run_strategy(ctx, name, budget).selected
    candidates = ctx.candidates[0]
    poisoned = synthetic(12, 60, seed=7)
    poisoned.scores[candidates] = 1 - poisoned.scores[candidates]
    poisoned.repeat_scores[candidates] = 1 - poisoned.repeat_scores[candidates]
    poisoned_ctx, _ = make_context(poisoned, holdout=0.5, replicates=1, seed=11)
    assert np.array_equal(poisoned_ctx.candidates, ctx.candidates)
    after = run_strategy(poisoned_ctx, name, budget).selected
    assert np.array_equal(before, after)
    # and the history does steer the choice: poisoning the history changes it
    history = ctx.history[0]
    steered = synthetic(12, 60, seed=7)
    steered.scores[history] = np.random.default_rng(0).random(steered.scores[history].shape)
    steered_ctx, _ = make_context(steered, holdout=0.5, replicates=1, seed=11)
    assert not np.array_equal(before, run_strategy(steered_ctx, name, budget).selected)


def test_discriminative_beats_random_on_swe_bench_verified(store_path: Path) -> None:
    result = run_cli(
        "simulate",
        "--store",
        str(store_path),
        "--benchmark",
        "swe-bench-verified",
        "--holdout-models",
        "0.5",
        "--budget",
        "10%",
        "--strategy",
        "random",
        "--strategy",
        "discriminative",
        "--seed",
        "1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report.keys() >= {"benchmark", "models", "items", "full_cost_usd", "results"}
    by_name = {r["strategy"]: r for r in report["results"]}
    for row in by_name.values():
        assert row.keys() >= {
            "strategy",
            "budget",
            "cost_usd",
            "items_per_model",
            "kendall_tau",
            "top1_recovery",
            "topk_overlap",
            "mae",
            "max_rank_displacement",
            "dior",
        }
        assert row["cost_usd"]["p95"] <= 0.10 * report["full_cost_usd"]  # half the models' full cost is ~50%
    assert 0.78 <= by_name["random"]["kendall_tau"]["mean"] <= 0.86
    assert by_name["discriminative"]["kendall_tau"]["mean"] >= 0.88


def test_repeats_on_metr_count_rollouts(store_path: Path) -> None:
    result = run_cli(
        "simulate",
        "--store",
        str(store_path),
        "--benchmark",
        "metr-hcast-rebench",
        "--budget",
        "20%",
        "--strategy",
        "repeats:1",
        "--strategy",
        "repeats:2",
        "--replicates",
        "30",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cost_unit"] == "rollouts" and report["full_cost_usd"] is None
    one, two = report["results"]
    # a budget in rollouts buys about as many attempts either way: half the items, twice each
    assert two["items_per_model"]["mean"] == pytest.approx(one["items_per_model"]["mean"], rel=0.2)
    assert one["cost_usd"]["p95"] <= 0.2 * 10 * 83  # 20% of one pass: 10 models x 83 tasks


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--benchmark", "metr-hcast-rebench", "--budget", "$10"], "has no cost data; give a share"),
        (["--benchmark", "swe-bench-verified", "--budget", "ten dollars"], "is not one of '$50'"),
        (["--benchmark", "swe-bench-verified", "--budget", "5gpu-h"], "name the GPU type it is in"),
        (["--benchmark", "nope"], "'nope' has no per-rollout data"),
        (["--benchmark", "swe-bench-verified", "--holdout-models", "1.5"], "must be a share between 0 and 1"),
        (["--benchmark", "swe-bench-verified", "--strategy", "magic"], "--strategy 'magic' is not one of"),
        (["--benchmark", "swe-bench-pro-public", "--strategy", "anchor"], "learns from history models"),
    ],
)
def test_bad_simulate_input_is_one_sentence(store_path: Path, args: list[str], expected: str) -> None:
    result = run_cli("simulate", "--store", str(store_path), "--replicates", "5", *args)
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr and result.stderr.count("\n") == 1


def test_gpu_hour_budgets_convert_with_the_card(store_path: Path) -> None:
    result = run_cli(
        "simulate",
        "--store",
        str(store_path),
        "--benchmark",
        "swe-bench-verified",
        "--budget",
        "40gpu-h",
        "--gpu-type",
        "H100",
        "--strategy",
        "random",
        "--replicates",
        "5",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["results"]
    assert row["budget_units"] == pytest.approx(40 * 2.50)
    assert row["cost_usd"]["p95"] <= 100


def test_budget_parsing() -> None:
    assert parse_budget("$50").kind == "usd" and parse_budget("50usd").value == 50
    assert parse_budget("12 gpu-h").kind == "gpu_h" and parse_budget("5%").kind == "percent"
    for bad in ("-5", "abc", "0%", "150%", "$0"):
        with pytest.raises(InputError):
            parse_budget(bad)


def test_the_strongest_split_plans_for_models_stronger_than_their_history(store_path: Path) -> None:
    """--holdout-split strongest: each replicate draws three quarters of the models, and its strongest share
    (by full score) are the candidates, the rest of the draw the history; replicates differ."""
    from evalbudget.engine.sim.simulate import split_sizes

    conn = duckdb.connect(str(store_path), read_only=True)
    data = load_benchmark(conn, "swe-bench-verified")
    conn.close()
    ctx, per_replicate = make_context(data, holdout=0.5, replicates=50, seed=3, split="strongest")
    truth = data.full_scores()
    assert (
        (per_replicate, int(ctx.history[0].sum()))
        == split_sizes(data.n_candidates, 0.5, "strongest")
        == (9, 9)
    )
    for r in range(50):
        assert ctx.candidates[r].sum() == 9 and not (ctx.candidates[r] & ctx.history[r]).any()
        assert truth[ctx.candidates[r]].min() >= truth[ctx.history[r]].max()
    assert len({ctx.candidates[r].tobytes() for r in range(50)}) > 10  # not the same models every time

    result = run_cli(
        "simulate", "--store", str(store_path), "--benchmark", "swe-bench-verified", "--budget", "5%",
        "--holdout-models", "0.5", "--holdout-split", "strongest", "--strategy", "random", "--strategy", "irt",
        "--replicates", "40", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["holdout_split"] == "strongest" and report["candidates_per_replicate"] == 9
    assert {r["strategy"] for r in report["results"]} == {"random", "irt"}
    # stronger candidates are closer together: the same strategy ranks them less faithfully than a random split
    random_split = simulate(
        data, strategies=["random"], budgets=[parse_budget("5%")], holdout=0.5, replicates=40, seed=0
    )
    strongest = next(r for r in report["results"] if r["strategy"] == "random")
    assert strongest["kendall_tau"]["mean"] < random_split.results[0].kendall_tau.mean

    refused = run_cli(
        "simulate", "--store", str(store_path), "--benchmark", "swe-bench-verified", "--holdout-split", "strongest"
    )  # fmt: skip
    assert refused.returncode == 1 and "needs --holdout-models" in refused.stderr

    planned = run_cli(
        "plan", "--store", str(store_path), "--benchmark", "swe-bench-verified", "--budget", "5%",
        "--candidates", "o3 (2025-04-16),Kimi K2 Instruct,Minimax M2", "--holdout-split", "strongest",
        "--replicates", "30", "--json",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["simulation"]["holdout_split"] == "strongest"


def test_random_regression_ranks_as_random_does_and_predicts_scores_from_the_history(
    store_path: Path,
) -> None:
    """The baseline: the same random items as `random`, each estimate moved by one rising line per replicate
    (fitted on the history models), so the ranking stands and the scores come closer to the full ones."""
    conn = duckdb.connect(str(store_path), read_only=True)
    data = load_benchmark(conn, "swe-bench-verified")
    conn.close()
    ctx, _ = make_context(data, holdout=0.5, replicates=60, seed=4)
    budget = np.full(ctx.replicates, full_costs(ctx).mean() * 0.05)
    plain = run_strategy(ctx, "random", budget)
    fitted = run_strategy(ctx, "random-regression", budget)
    assert (plain.selected == fitted.selected).all()
    truth = data.full_scores()
    for r in range(ctx.replicates):
        rows = ctx.candidates[r]
        slope, intercept = np.polyfit(plain.estimates[r, rows], fitted.estimates[r, rows], 1)
        assert slope > 0 and np.allclose(
            intercept + slope * plain.estimates[r, rows], fitted.estimates[r, rows]
        )
    error = lambda est: np.abs(est - truth[None, :])[ctx.candidates].mean()  # noqa: E731
    assert error(fitted.estimates) < error(plain.estimates)
    assert fidelity(truth, fitted.estimates, ctx.candidates).kendall_tau.mean == pytest.approx(
        fidelity(truth, plain.estimates, ctx.candidates).kendall_tau.mean
    )


def test_adaptive_abilities_come_back_from_2pl_answers() -> None:
    """The shared ability estimate (Newton MAP) recovers the abilities that generated 2PL answers."""
    from evalbudget.engine.stages import abilities

    rng = np.random.default_rng(3)
    theta = rng.normal(size=40)
    a, b = np.exp(rng.normal(0, 0.3, size=300)), rng.normal(size=300)
    answers = (rng.random((40, 300)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(np.float64)
    run = rng.random((40, 300)) < 0.5
    estimated = abilities(a, b, np.where(run, answers, np.nan), run)
    assert np.corrcoef(estimated, theta)[0, 1] >= 0.95
    assert np.all(
        abilities(a, b, np.full((2, 300), np.nan), np.zeros((2, 300), dtype=bool)) == 0
    )  # the prior


def test_adaptive_gives_stronger_candidates_harder_items() -> None:
    """What makes it adaptive: after the shared audit, each candidate runs its own items, and the stronger
    a candidate, the harder (by the history's pass rates) the items chosen for it."""
    data = synthetic(30, 400, seed=5, with_cost=False)
    ctx, _ = make_context(data, holdout=0.5, replicates=4, seed=2)
    outcome = run_strategy(ctx, "adaptive", full_costs(ctx) * 0.1)
    assert outcome.picks is not None
    truth = data.full_scores()
    pass_rate = np.nanmean(data.scores, axis=0)
    for r in range(ctx.replicates):
        rows = np.flatnonzero(ctx.candidates[r])
        chosen = outcome.picks[r, rows] >= 2  # the adaptive stages' items
        assert len({tuple(np.flatnonzero(c)) for c in chosen}) > rows.size // 2  # their own items
        hardness = np.array([1 - pass_rate[c].mean() for c in chosen])
        assert kendalltau(truth[rows], hardness).statistic > 0.4
        audit = outcome.picks[r, rows] == 1
        assert (audit == audit[0]).all()  # the audit slice is shared


def test_the_audit_correction_keeps_a_real_departure_and_shrinks_noise() -> None:
    """Empirical Bayes on the audit residuals: a candidate truly unlike the history (its answers 0.3 above
    what the item model predicts) keeps at least half of its correction, while candidates the model fits get
    corrections nearer zero than their noisy raw residuals."""
    from evalbudget.engine.stages import shrunk_residuals

    raw_noise, shrunk_noise = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        predicted = rng.uniform(0.3, 0.6, size=(10, 40))  # 10 candidates x 40 audit items
        shift = np.zeros(10)
        shift[0] = 0.3
        answers = (rng.random(predicted.shape) < predicted + shift[:, None]).astype(np.float64)
        residuals = answers - predicted
        raw = residuals.mean(axis=1)
        shrunk = shrunk_residuals(residuals, predicted, np.ones(predicted.shape, dtype=bool))
        assert shrunk[0] > 0.5 * raw[0] > 0.1
        raw_noise.append(np.abs(raw[1:]).mean())
        shrunk_noise.append(np.abs(shrunk[1:]).mean())
    assert np.mean(shrunk_noise) < 0.75 * np.mean(raw_noise)


def test_the_newest_split_holds_out_the_models_that_came_out_last(store_path: Path, tmp_path: Path) -> None:
    """Release dates come from the table format's release_date column (a later file may correct one); the
    newest split's candidates are never older than their history; without dates it is refused by name."""
    rng = np.random.default_rng(0)
    lines = ["benchmark,item_id,model,score,release_date"]
    dates = {f"m{k}": f"2025-{k + 1:02d}-15" for k in range(10)}
    for model, day in dates.items():
        lines += [f"dated,i{j},{model},{int(rng.random() < 0.5)},{day}" for j in range(30)]
    table = tmp_path / "dated.csv"
    table.write_text("\n".join(lines) + "\n")
    assert run_cli("ingest", "--store", str(store_path), str(table)).returncode == 0
    fix = tmp_path / "fix.csv"  # m0 came out last after all
    fix.write_text("benchmark,item_id,model,score,release_date\ndated,i0,m0,1,2025-12-01\n")
    assert run_cli("ingest", "--store", str(store_path), str(fix)).returncode == 0
    with duckdb.connect(str(store_path), read_only=True) as conn:
        data = load_benchmark(conn, "dated")
    assert data.released is not None and np.all(np.isfinite(data.released))
    ctx, _ = make_context(data, holdout=0.5, replicates=30, seed=1, split="newest")
    for r in range(30):
        assert data.released[ctx.candidates[r]].min() >= data.released[ctx.history[r]].max()
    newest = data.candidates.index(candidate("m0"))  # its date corrected to the latest
    drawn = ctx.candidates[:, newest] | ctx.history[:, newest]
    assert drawn.any() and ctx.candidates[drawn, newest].all()
    result = run_cli(
        "simulate", "--store", str(store_path), "--benchmark", "dated", "--budget", "20%", "--holdout-models",
        "0.5", "--holdout-split", "newest", "--strategy", "random", "--replicates", "20", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["holdout_split"] == "newest"
    # AlpacaEval's rollouts carry no dates at all
    refused = run_cli(
        "simulate", "--store", str(store_path), "--benchmark", "alpaca-eval-2", "--budget", "5%",
        "--holdout-models", "0.5", "--holdout-split", "newest",
    )  # fmt: skip
    assert refused.returncode == 1 and "needs release dates" in refused.stderr
    assert refused.stderr.count("\n") == 1


@given(seed=st.integers(0, 10**6), difference=st.sampled_from([0.0, 0.05, 0.2]))
@settings(max_examples=40)
def test_separated_counts_the_pairs_that_far_apart_ordered_right(seed: int, difference: float) -> None:
    """The ``separate`` objective's metric, against a plain loop over the pairs."""
    from evalbudget.engine.sim.metrics import separated

    rng = np.random.default_rng(seed)
    truth = np.round(rng.random(7), 1)  # ties in the truth, too
    estimates = np.round(rng.random((5, 7)), 1)  # and in the estimates: a tie counts half
    candidates = rng.random((5, 7)) < 0.7
    got = separated(truth, estimates, candidates, difference)
    for r in range(5):
        right = pairs = 0.0
        members = np.flatnonzero(candidates[r])
        for i in members:
            for j in members:
                if truth[i] - truth[j] >= difference and truth[i] > truth[j]:  # equal truth: no right order
                    pairs += 1
                    right += (
                        1.0
                        if estimates[r, i] > estimates[r, j]
                        else 0.5
                        if estimates[r, i] == estimates[r, j]
                        else 0.0
                    )
        expected = right / pairs if pairs else np.nan
        assert (np.isnan(got[r]) and np.isnan(expected)) or abs(got[r] - expected) < 1e-12


def test_cost_aware_buys_more_items_than_random_for_the_money() -> None:
    """cost-aware leans towards cheap items (and weights them back): at the same budget it runs more items
    than random does on a benchmark whose item costs differ 20x."""
    data = synthetic(12, 300, seed=9)
    rng = np.random.default_rng(9)  # an item costs about the same for every model, as real items do
    data.costs = np.exp(rng.uniform(np.log(0.05), np.log(1.0), size=300))[None, :] * rng.uniform(
        0.5, 2, (12, 1)
    )
    ctx, _ = make_context(data, holdout=0.5, replicates=40, seed=1)
    budget = full_costs(ctx) * 0.05
    random_items = run_strategy(ctx, "random", budget).items_per_model.mean()
    assert run_strategy(ctx, "cost-aware", budget).items_per_model.mean() > 1.2 * random_items


def _two_pl(
    models: int, items: int, seed: int, samples: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Answers from a 2PL model (log-discriminations N(0, 0.5^2)): the mean of ``samples`` attempts per item."""
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(size=models), rng.normal(size=items)
    a = np.exp(rng.normal(0, 0.5, size=items))
    p = 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    return (rng.random((samples, models, items)) < p).mean(axis=0), theta, a


def test_the_2pl_fit_recovers_its_parameters() -> None:
    """Parameter recovery on synthetic 2PL data. Abilities come back at 24 history models x 500 items; the
    discriminations come back as the history grows (24 answers per item say little about its slope: even a
    fit told the true abilities reaches about 0.5 there, which is why adaptive choice caps them)."""
    from evalbudget.engine.sim.irt import fit_2pl

    for models, least in ((24, 0.4), (200, 0.8)):
        answers, theta, a = _two_pl(models, 500, seed=models)
        fitted = fit_2pl(answers)
        assert np.corrcoef(fitted.abilities, theta)[0, 1] >= 0.95
        assert np.corrcoef(fitted.discrimination, a)[0, 1] >= least, models


def test_the_2pl_fit_uses_graded_scores_as_they_are() -> None:
    """Scores in [0, 1] that are not pass/fail (pass@1 over 4 samples) are soft labels, not thresholded: they
    carry more information, and the abilities come back closer than from the same scores rounded."""
    from evalbudget.engine.sim.irt import fit_2pl

    graded, rounded = [], []
    for seed in range(6):
        answers, theta, _ = _two_pl(24, 100, seed=seed, samples=4)
        assert len(np.unique(answers)) == 5
        graded.append(np.corrcoef(fit_2pl(answers).abilities, theta)[0, 1])
        rounded.append(np.corrcoef(fit_2pl(np.round(answers)).abilities, theta)[0, 1])
    assert np.mean(graded) > np.mean(rounded)
