"""The statistics users ask an eval tool for: is model A better than model B on this benchmark (a paired
difference on the items both ran, with its confidence interval and p-value), and how many items it takes to
tell two models a given distance apart (power).

Paired, because two models' scores on the same item move together (some items are hard for everyone): the
difference's variance is far below the sum of the two scores' variances, so fewer items settle the question
(Miller, "Adding Error Bars to Evals", 2024). Repeated attempts are averaged per item first, and the share of
the variance they add is reported. Scores come from the store's history as the simulator reads it
(``load_benchmark``: replayed launches and excluded runs left out); scipy supplies Student's t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np

from evalbudget.engine.candidates import resolve
from evalbudget.engine.errors import InputError
from evalbudget.engine.sim.data import load_benchmark

LEVEL = 0.95


@dataclass(frozen=True)
class Comparison:
    benchmark: str
    a: str
    b: str
    items: int
    """Items both models have a score on."""
    repeats: float
    """Mean attempts per model per shared item (1 without repeats)."""
    mean_a: float
    mean_b: float
    difference: float
    """mean_a - mean_b over the shared items."""
    standard_error: float
    low: float
    high: float
    """The 95% confidence interval of the difference (Student's t, items - 1 degrees of freedom)."""
    p_value: float
    """Two-sided, paired t-test of no difference."""
    repeat_share: float | None
    """Of the difference's variance, the share that repeat-to-repeat noise adds (None without repeats)."""
    unpaired_standard_error: float
    """What the standard error would be if the items were not shared: what pairing saves."""


@dataclass(frozen=True)
class Power:
    benchmark: str
    difference: float
    power: float
    alpha: float
    sd_difference: float
    """The paired per-item difference's standard deviation, the median over the store's model pairs."""
    pairs: int
    items_needed: int
    items_available: int
    usd_per_candidate: float | None
    """items_needed x the mean cost of one item over the store's models; None without cost data."""


def compare(conn: duckdb.DuckDBPyConnection, benchmark: str, a: str, b: str) -> Comparison:
    """The paired difference of ``a`` and ``b`` (as the store names them, or MODEL@SCAFFOLD) on the items both
    ran."""
    from scipy import stats

    data = load_benchmark(conn, benchmark)
    where = f"the store on {benchmark}"
    chosen = resolve([a, b], data.candidates, where=where, role="Model", new_models=False)
    if len(chosen) < 2:
        raise InputError("Compare two different models.")
    first, second = chosen
    rows = [data.candidates.index(first), data.candidates.index(second)]
    scores = data.scores[rows]
    shared = ~np.isnan(scores).any(axis=0)
    n = int(shared.sum())
    if n < 2:
        raise InputError(
            f"{first} and {second} share {n} item{'s' if n != 1 else ''} on {benchmark}; "
            "a paired comparison needs at least two."
        )
    score_a, score_b = scores[0, shared], scores[1, shared]
    diff = score_a - score_b
    sd = float(np.std(diff, ddof=1))
    se = sd / math.sqrt(n)
    t = stats.t(df=n - 1)
    half = float(t.ppf((1 + LEVEL) / 2)) * se
    mean = float(diff.mean())
    p_value = float(2 * t.sf(abs(mean) / se)) if se > 0 else (1.0 if mean == 0 else 0.0)
    attempts = data.repeat_scores[rows][:, shared]  # 2 x shared items x repeats, NaN-padded
    counts = np.sum(~np.isnan(attempts), axis=2)
    repeat_share = None
    if counts.max() > 1:
        # the variance of an item's mean over k attempts holds (within-item variance)/k of repeat noise
        several = counts > 1
        within = np.nanvar(attempts[several], axis=1, ddof=1) / counts[several]
        repeat_share = float(min(1.0, (within.sum() / n) / max(sd**2, 1e-12)))
    unpaired = math.sqrt((np.var(score_a, ddof=1) + np.var(score_b, ddof=1)) / n)
    return Comparison(
        benchmark=benchmark,
        a=str(first),
        b=str(second),
        items=n,
        repeats=float(counts.mean()),
        mean_a=float(score_a.mean()),
        mean_b=float(score_b.mean()),
        difference=mean,
        standard_error=se,
        low=mean - half,
        high=mean + half,
        p_value=min(1.0, p_value),
        repeat_share=repeat_share,
        unpaired_standard_error=float(unpaired),
    )


def power(
    conn: duckdb.DuckDBPyConnection,
    benchmark: str,
    difference: float,
    *,
    target_power: float = 0.8,
    alpha: float = 0.05,
) -> Power:
    """Items (and dollars per candidate) a paired comparison needs to tell two models ``difference`` apart
    with ``target_power``, from the spread of the per-item differences between the store's models."""
    from scipy import stats

    if not 0 < difference < 1:
        raise InputError(f"The difference {difference:g} must be a share between 0 and 1 (e.g. 0.02).")
    if not 0 < target_power < 1 or not 0 < alpha < 1:
        raise InputError("Power and alpha must be shares between 0 and 1 (e.g. 0.8 and 0.05).")
    data = load_benchmark(conn, benchmark)
    if data.n_candidates < 2:
        raise InputError(f"Benchmark {benchmark!r} has one model; the spread of differences needs two.")
    table = data.scores
    spreads = []
    for x in range(data.n_candidates):
        for y in range(x + 1, data.n_candidates):
            both = ~np.isnan(table[x]) & ~np.isnan(table[y])
            if both.sum() >= 2:
                spreads.append(float(np.std(table[x, both] - table[y, both], ddof=1)))
    if not spreads:
        raise InputError(f"No two models share two items on {benchmark}: no spread of differences to use.")
    sd = float(np.median(spreads))
    # the normal approximation, then Student's t at the items it gives, until the count settles
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target_power)
    needed = max(2, math.ceil((z * sd / difference) ** 2))
    for _ in range(20):
        t = stats.t(df=needed - 1)
        updated = max(2, math.ceil(((t.ppf(1 - alpha / 2) + t.ppf(target_power)) * sd / difference) ** 2))
        if updated == needed:
            break
        needed = updated
    per_item = float(np.nanmean(data.costs)) if data.has_cost else None
    return Power(
        benchmark=benchmark,
        difference=difference,
        power=target_power,
        alpha=alpha,
        sd_difference=sd,
        pairs=len(spreads),
        items_needed=needed,
        items_available=data.n_items,
        usd_per_candidate=needed * per_item if per_item is not None else None,
    )
