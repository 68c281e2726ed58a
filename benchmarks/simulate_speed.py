"""Simulation speed, printed as ratios against baselines measured in the same run (not a test).

1. Vectorised replicates vs a straightforward loop (per replicate: order the same random keys, take the
   items the budget buys, mean per model, scipy.stats.kendalltau) on SWE-bench Verified and AlpacaEval 2
   from the sample store, for a simulation of ten budgets (1% to 10%): identical subsets, and the taus must
   agree to 1e-9 at every budget. The vectorised side starts from a fresh context (it draws its own keys and
   sorts them inside the timing, at its first budget) and reuses the orders at the others.
2. One budget point on a sample benchmark (what the app recomputes as the user types a budget).
3. Scale: a synthetic 400 models x 20,000 items, 1,000 replicates, 5 strategies x 10 budgets.
4. Cold start on a 45 models x 400 items benchmark (synthetic 2PL, with costs), half the models held out, one
   budget (5%), random: a fresh context, the strategy and every fidelity metric, against a plain loop
   (per replicate: numpy choice of candidates and of the item order, the items the budget buys, mean,
   scipy's kendalltau).
5. adaptive on SWE-bench Verified, 200 replicates, half the models held out, one budget (5%), from a fresh
   context (the 2PL fits on each replicate's history included), against its 5 s target.

    .venv/bin/python benchmarks/simulate_speed.py [--skip-scale]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from evalbudget.engine.sim import BenchmarkData, load_benchmark
from evalbudget.engine.sim.metrics import fidelity
from evalbudget.engine.sim.simulate import full_costs, make_context, run_strategy
from evalbudget.engine.store import open_store


def sample_benchmark(name: str) -> BenchmarkData:
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "store.duckdb") as store:
        return load_benchmark(store.conn, name)


SHARES = [share / 100 for share in range(1, 11)]
"""The budgets of one simulation: 1%, 2%, ... 10% of the full cost."""


def loop_replicates(
    data: BenchmarkData, truth: np.ndarray, keys: np.ndarray, budget: np.ndarray
) -> tuple[list[float], list[np.ndarray]]:
    """The straightforward way: per replicate, order the keys, take what the budget buys, mean, scipy's tau."""
    unit_costs = data.unit_costs()
    taus, subsets = [], []
    for r in range(keys.shape[0]):
        order = np.argsort(keys[r])
        spent = np.cumsum(unit_costs[:, order].sum(axis=0))
        items = order[: int(np.sum(spent <= budget[r] * (1 + 1e-12)))]
        subsets.append(items)
        estimate = np.nanmean(data.scores[:, items], axis=1)
        taus.append(kendalltau(truth, estimate).statistic)
    return taus, subsets


def vectorised_vs_loop(name: str, replicates: int) -> None:
    data = sample_benchmark(name)
    truth = data.full_scores()
    first, further, whole = [], [], []
    for _ in range(4):  # the first run pays for page faults and BLAS start-up: report the median of the rest
        # a fresh context: the first budget point draws and orders its own keys; the others reuse them
        ctx, _ = make_context(data, holdout=None, replicates=replicates, seed=0)
        full = full_costs(ctx)
        outcomes, times = [], []
        for share in SHARES:
            started = time.perf_counter()
            outcome = run_strategy(ctx, "random", full * share)
            outcomes.append((outcome, fidelity(truth, outcome.estimates, ctx.candidates)))
            times.append(time.perf_counter() - started)
        first.append(times[0])
        further.append(float(np.mean(times[1:])))
        whole.append(sum(times))
    cold, warm, simulation = (float(np.median(t[1:])) for t in (first, further, whole))

    # (a replicate whose budget buys no item has no ranking: tau is NaN on both sides, left out of the mean)
    # the loop draws the same random keys (same generator, same seed), then does everything else per replicate
    keys = ctx.rng(1).random((replicates, data.n_items))
    started = time.perf_counter()
    loops = [loop_replicates(data, truth, keys, full * share) for share in SHARES]
    loop = time.perf_counter() - started
    for (outcome, result), (taus, subsets) in zip(outcomes, loops, strict=True):
        for r, items in enumerate(subsets):
            assert np.array_equal(np.sort(items), np.flatnonzero(outcome.selected[r]))  # identical subsets
        assert abs(result.kendall_tau.mean - float(np.nanmean(taus))) < 1e-9, (
            result.kendall_tau.mean,
            np.mean(taus),
        )
    at_ten = float(np.nanmean(loops[-1][0]))
    print(
        f"[1] random, budgets 1%..10%, {replicates} replicates on {name} ({data.n_candidates} x {data.n_items})"
    )
    print(
        f"    mean tau at 10%: vectorised {outcomes[-1][1].kendall_tau.mean:.12f}, loop {at_ten:.12f} "
        "(every budget equal to 1e-9, identical subsets)"
    )
    print(
        f"    the 10-budget simulation: loop {loop * 1000:.0f} ms, vectorised {simulation * 1000:.0f} ms: "
        f"{loop / simulation:.1f}x faster (target 20x)"
    )
    print(
        f"    per budget point: loop {loop / len(SHARES) * 1000:.1f} ms; vectorised first {cold * 1000:.1f} ms "
        f"(draws and sorts the orders), each further {warm * 1000:.1f} ms"
    )


def one_budget_point() -> None:
    for name in ("swe-bench-verified", "alpaca-eval-2"):
        data = sample_benchmark(name)
        ctx, _ = make_context(data, holdout=0.5, replicates=200, seed=0)
        budget = full_costs(ctx) * 0.10
        for strategy in ("random", "discriminative"):
            run_strategy(ctx, strategy, budget)  # warm
            started = time.perf_counter()
            outcome = run_strategy(ctx, strategy, budget)
            fidelity(data.full_scores(), outcome.estimates, ctx.candidates)
            elapsed = (time.perf_counter() - started) * 1000
            print(
                f"[2] one budget point, {strategy:<14} on {name:<19} (200 replicates): {elapsed:7.1f} ms (target 100 ms)"
            )


def scale() -> None:
    rng = np.random.default_rng(0)
    models, items = 400, 20_000
    ability = rng.normal(size=models)
    difficulty = rng.normal(size=items)
    scores = (rng.random((models, items)) < 1 / (1 + np.exp(-(ability[:, None] - difficulty)))).astype(
        np.float64
    )
    data = BenchmarkData(
        benchmark="synthetic",
        candidates=[f"m{i}" for i in range(models)],
        items=[f"i{j}" for j in range(items)],
        strata=rng.integers(0, 10, size=items),
        stratum_names=[str(s) for s in range(10)],
        scores=scores,
        costs=np.exp(rng.uniform(np.log(0.01), np.log(0.2), size=(models, items))),
        repeat_scores=scores[:, :, None],
        has_cost=True,
    )
    started = time.perf_counter()
    ctx, _ = make_context(data, holdout=0.5, replicates=1000, seed=0)
    full = full_costs(ctx)
    truth = data.full_scores()
    for share in np.linspace(0.01, 0.10, 10):
        for strategy in ("prefix", "random", "stratified", "cost-aware", "discriminative"):
            outcome = run_strategy(ctx, strategy, full * share)
            fidelity(truth, outcome.estimates, ctx.candidates)
    elapsed = time.perf_counter() - started
    print(
        f"[3] 400 models x 20,000 items, 1,000 replicates, 5 strategies x 10 budgets: {elapsed:.1f} s (target 30 s)"
    )


def synthetic(models: int, items: int, seed: int = 0) -> BenchmarkData:
    """A 2PL benchmark: abilities and difficulties standard normal, item costs log-uniform $0.01-$0.20."""
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=models)
    difficulty = rng.normal(size=items)
    scores = (rng.random((models, items)) < 1 / (1 + np.exp(-(ability[:, None] - difficulty)))).astype(
        np.float64
    )
    return BenchmarkData(
        benchmark="synthetic",
        candidates=[f"m{i}" for i in range(models)],
        items=[f"i{j}" for j in range(items)],
        strata=np.zeros(items, dtype=np.int64),
        stratum_names=["0"],
        scores=scores,
        costs=np.exp(rng.uniform(np.log(0.01), np.log(0.2), size=(models, items))),
        repeat_scores=scores[:, :, None],
        has_cost=True,
    )


def cold_start(replicates: int) -> None:
    data = synthetic(45, 400)
    truth = data.full_scores()
    unit_costs = data.unit_costs()
    share, holdout = 0.05, 0.5
    vectorised, taus_vec = [], []
    for seed in range(7):
        started = time.perf_counter()
        ctx, _ = make_context(data, holdout=holdout, replicates=replicates, seed=seed)
        outcome = run_strategy(ctx, "random", full_costs(ctx) * share)
        result = fidelity(truth, outcome.estimates, ctx.candidates)
        vectorised.append(time.perf_counter() - started)
        taus_vec.append(result.kendall_tau.mean)
    loops, taus_loop = [], []
    per_replicate = round(holdout * data.n_candidates)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        started = time.perf_counter()
        taus = []
        for _ in range(replicates):
            candidates = rng.choice(data.n_candidates, per_replicate, replace=False)
            order = rng.choice(data.n_items, data.n_items, replace=False)
            spent = np.cumsum(unit_costs[candidates][:, order].sum(axis=0))
            budget = unit_costs[candidates].sum() * share
            items = order[: int(np.sum(spent <= budget))]
            estimate = data.scores[np.ix_(candidates, items)].mean(axis=1)
            taus.append(kendalltau(truth[candidates], estimate).statistic)
        loops.append(time.perf_counter() - started)
        taus_loop.append(float(np.nanmean(taus)))
    fast, slow = float(np.median(vectorised[1:])), float(np.median(loops))
    print(
        f"[4] cold start, 45 x 400, holdout 0.5, random at 5%, {replicates} replicates: loop {slow * 1000:.1f} ms, "
        f"vectorised {fast * 1000:.2f} ms (context + strategy + all metrics): {slow / fast:.1f}x (target 50x); "
        f"mean tau {np.mean(taus_vec):.3f} vs loop {np.mean(taus_loop):.3f}"
    )


def adaptive_speed() -> None:
    data = sample_benchmark("swe-bench-verified")
    times = []
    for seed in range(3):
        started = time.perf_counter()
        ctx, _ = make_context(data, holdout=0.5, replicates=200, seed=seed)
        outcome = run_strategy(ctx, "adaptive", full_costs(ctx) * 0.05)
        result = fidelity(data.full_scores(), outcome.estimates, ctx.candidates)
        times.append(time.perf_counter() - started)
    print(
        f"[5] adaptive, 200 replicates on swe-bench-verified at 5%, from a fresh context: {np.median(times):.2f} s "
        f"(target 5 s); mean tau {result.kendall_tau.mean:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    for name in ("swe-bench-verified", "alpaca-eval-2"):
        vectorised_vs_loop(name, args.replicates)
    one_budget_point()
    for replicates in (200, 1000):
        cold_start(replicates)
    adaptive_speed()
    if not args.skip_scale:
        scale()


if __name__ == "__main__":
    main()
