"""Ranking fidelity of every strategy, by split, and how the recommended plan's predicted interval holds (issue
14's targets; not a test: it takes minutes).

1. Every strategy at 5% of the full cost, half the models held out, 200 replicates, on the sample store's
   AlpacaEval 2 and SWE-bench Verified and on a synthetic 45 models x 400 items 2PL benchmark (a stand-in for
   an unseen one), for each split the data allows (random, strongest; newest where the store knows dates):
   mean Kendall tau, the best strategy, and the best learned strategy against random-regression.
2. The recommended plan's predicted 90% tau interval, on each split type: plan for the held-out candidates
   (the planner sees only the others), replay the plan on the candidates' real results, and count the
   splits whose realised tau falls inside the interval (target: at least 85%).

    .venv/bin/python benchmarks/fidelity.py [--replicates 200] [--splits 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate_speed import synthetic

from evalbudget.engine.plan import make_plan, replay, subset
from evalbudget.engine.sim import BenchmarkData, load_benchmark, parse_budget, simulate
from evalbudget.engine.sim.metrics import kendall_tau
from evalbudget.engine.sim.simulate import STRONGEST_DRAW, drawable
from evalbudget.engine.sim.strategies import strategy_spec
from evalbudget.engine.store import open_store

STRATEGIES = [
    "random",
    "random-regression",
    "stratified",
    "cost-aware",
    "discriminative",
    "anchor",
    "irt",
    "adaptive",
    "coarse-to-fine",
    "successive-halving",
    "racing",
]


def benchmarks() -> dict[str, BenchmarkData]:
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "store.duckdb") as store:
        loaded = {name: load_benchmark(store.conn, name) for name in ("alpaca-eval-2", "swe-bench-verified")}
    loaded["synthetic 45x400"] = synthetic(45, 400, seed=7)
    return loaded


def splits_of(data: BenchmarkData) -> list[str]:
    dated = data.released is not None and int(np.sum(np.isfinite(data.released))) >= 4
    return ["random", "strongest", *(["newest"] if dated else [])]


def strategy_table(data_sets: dict[str, BenchmarkData], replicates: int) -> None:
    print(f"[1] mean Kendall tau at 5%, half the models held out, {replicates} replicates")
    for name, data in data_sets.items():
        for split in splits_of(data):
            started = time.perf_counter()
            report = simulate(
                data,
                strategies=[s for s in STRATEGIES if strategy_spec(s).applies(data, 3)],
                budgets=[parse_budget("5%")],
                holdout=0.5,
                replicates=replicates,
                seed=0,
                split=split,
            )
            taus = {r.strategy: r.kendall_tau.mean for r in report.results}
            best = max(taus, key=lambda s: taus[s])
            learned = {
                s: t
                for s, t in taus.items()
                if strategy_spec(s).learns_from_history and s != "random-regression"
            }
            best_learned = max(learned, key=lambda s: learned[s])
            baseline = taus["random-regression"]
            print(
                f"    {name:<20} {split:<9} "
                + " ".join(f"{s}={t:.3f}" for s, t in taus.items())
                + f"\n    {'':<20} {'':<9} best {best} {taus[best]:.3f}; best learned {best_learned} "
                f"{learned[best_learned]:.3f} vs random-regression {baseline:.3f} "
                f"({'meets' if learned[best_learned] >= baseline - 0.01 else 'misses'} 'within 0.01 or above'); "
                f"{time.perf_counter() - started:.0f} s"
            )


def held_out(data: BenchmarkData, split: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The candidates (half of a draw, by the split) and the history (the rest of the draw)."""
    if split == "random":
        order = rng.permutation(data.n_candidates)
        half = data.n_candidates // 2
        return np.sort(order[:half]), np.sort(order[half:])
    strength = data.full_scores() if split == "strongest" else data.released
    assert strength is not None
    known = np.flatnonzero(np.isfinite(strength))
    drawn = rng.choice(known, max(4, round(STRONGEST_DRAW * known.size)), replace=False)
    ranked = drawn[np.argsort(-strength[drawn], kind="stable")]
    half = ranked.size // 2
    return np.sort(ranked[:half]), np.sort(ranked[half:])


def interval_coverage(data: BenchmarkData, splits: int) -> None:
    truth = data.full_scores()
    for split in splits_of(data):
        inside, widths, chosen = 0, [], []
        started = time.perf_counter()
        for k in range(splits):
            candidates_rows, history_rows = held_out(data, split, np.random.default_rng([k, 17]))
            visible = subset(data, history_rows.tolist())
            candidates = [data.candidates[i] for i in candidates_rows]
            plan = make_plan(
                visible,
                candidates,
                parse_budget("10%"),
                predicted_costs=data.unit_costs()[candidates_rows],
                replicates=60,
                seed=k,
                split=split if drawable(visible, split) >= 4 else "random",
            )
            estimates = replay(plan, data).estimates
            tau = kendall_tau(
                truth[candidates_rows], estimates[None, :], np.ones((1, candidates_rows.size), dtype=bool)
            )[0]
            predicted = plan.predicted_fidelity
            assert predicted is not None
            inside += predicted.kendall_tau.p05 <= tau <= predicted.kendall_tau.p95
            widths.append(predicted.kendall_tau.p95 - predicted.kendall_tau.p05)
            chosen.append(plan.strategy)
        common = max(set(chosen), key=chosen.count)
        print(
            f"    {data.benchmark:<20} {split:<9} realised tau inside the predicted 90% interval in {inside}/{splits} "
            f"({inside / splits:.0%}; target 85%), mean width {np.mean(widths):.2f}, most chosen {common}; "
            f"{time.perf_counter() - started:.0f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--splits", type=int, default=20)
    args = parser.parse_args()
    data_sets = benchmarks()
    strategy_table(data_sets, args.replicates)
    print(
        f"[2] the recommended plan at 10%: predicted 90% tau interval vs the replayed tau, {args.splits} splits each"
    )
    for name in ("swe-bench-verified", "alpaca-eval-2"):
        interval_coverage(data_sets[name], args.splits)


if __name__ == "__main__":
    main()
