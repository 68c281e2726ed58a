"""Evaluation strategies, replayed on past data for many replicates at once.

Every strategy decides, per replicate, which items to run for which candidates, in what order; the budget
then takes the longest prefix of that order whose cost fits (as the launcher's hard cap would), so no
replicate ever spends past its budget. Strategies that learn from history (discriminative, anchor, irt)
look only at the replicate's history models, never at the candidates' results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import cast

import numpy as np

from evalbudget.engine.errors import InputError
from evalbudget.engine.sim.data import BenchmarkData
from evalbudget.engine.sim.irt import IrtModel, fit_2pl
from evalbudget.engine.sim.rows import argsort_rows, by_rows, places_rows
from evalbudget.engine.stages import (
    NarrowRule,
    abilities,
    adaptive_scores,
    adaptive_shares,
    affordable,
    allowance_prefix,
    halving_rounds,
    information_keys,
    item_parameters,
    keep,
    stage_allowances,
    within_each,
)

STAGE_ONE_SHARE = 0.3  # coarse-to-fine: the share of the budget spent on the first, all-candidate stage


@dataclass
class Context:
    """One simulation's fixed inputs: the data, each replicate's candidates and history, and the observations."""

    data: BenchmarkData
    candidates: np.ndarray
    """(R, M) bool: the models each replicate ranks."""
    history: np.ndarray
    """(R, M) bool: the models a learning strategy may look at."""
    unit_costs: np.ndarray
    """(M, N) cost of one run of an item (dollars, or 1 per rollout without cost data)."""
    observed: np.ndarray
    """(M, N), or (R, M, N) on benchmarks with repeats: the score one run of each item would show."""
    seed: int
    cache: dict[object, object] = field(default_factory=dict)

    @property
    def replicates(self) -> int:
        return self.candidates.shape[0]

    def rng(self, *salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *salt])

    def cached(self, key: object, make: Callable[[], np.ndarray]) -> np.ndarray:
        """An array that depends on the replicates but not on the budget, computed once per simulation."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]  # type: ignore[return-value]


@dataclass
class Outcome:
    estimates: np.ndarray
    """(R, M) estimated full-benchmark score of each model (meaningful for candidates)."""
    cost: np.ndarray
    """(R,) what the replicate spent."""
    items_per_model: np.ndarray
    """(R,) mean number of items run per candidate."""
    selected: np.ndarray
    """(R, N) bool: items run for at least one candidate."""
    stages: list[list[tuple[np.ndarray, np.ndarray]]] | None = None
    """Staged strategies: per replicate, per stage, the models (row indices) and items (column indices, in
    the order run) the stage ran."""
    weights: np.ndarray | None = None
    """(R, N) the estimate's item weights, where they are not equal (anchor points: their clusters' sizes)."""
    picks: np.ndarray | None = None
    """Adaptive: (R, M, N) the stage (1 = the audit, 2, 3, ...) in which each candidate ran each item; 0 where
    it did not."""


Strategy = Callable[[Context, np.ndarray], Outcome]
Estimator = Callable[[Context, np.ndarray], np.ndarray]
"""(ctx, selection (R, N): bool, or float item weights) -> (R, M) estimated full-benchmark scores from what
``ctx.observed`` shows on the selected items: a strategy's estimate, which the simulator applies to simulated
runs and ``evalbudget results`` to a launch's recorded ones (engine.results)."""


# ---- shared machinery ---------------------------------------------------------------------------------------


def item_costs(ctx: Context, models: np.ndarray) -> np.ndarray:
    """(R, N) cost of running each item once for the replicate's ``models`` (R, M) bool."""
    if models is ctx.candidates:
        return ctx.cached("candidate-costs", lambda: ctx.candidates.astype(np.float64) @ ctx.unit_costs)
    return models.astype(np.float64) @ ctx.unit_costs


def prefix(
    order: np.ndarray, costs: np.ndarray, budget: np.ndarray, limit: np.ndarray | None = None
) -> np.ndarray:
    """(R, N) bool: the longest prefix of each row's ``order`` whose cost fits the row's budget."""
    spent, places = _running_totals(order, costs)
    return _fitting(spent, places, budget, limit)[0]


def candidates_prefix(
    ctx: Context,
    key: object,
    keys: Callable[[], np.ndarray],
    budget: np.ndarray,
    limit: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``prefix`` of the order of budget-independent ``keys`` (R, N), lowest first, over the candidates' item
    costs, and what it costs. Only as much of each order is sorted as the budgets so far have needed (a
    partition, then a sort of the part): a small budget on a large benchmark does not sort every item. The
    sorted part and its running totals are kept under ``key``, so a further budget that fits in it costs one
    comparison."""
    cache_key = ("prefix", key)
    ordered = cast("_OrderedPart | None", ctx.cache.get(cache_key))
    if ordered is None:
        length = _first_length(item_costs(ctx, ctx.candidates), budget, limit)
        ordered = ctx.cache[cache_key] = _ordered_part(keys(), item_costs(ctx, ctx.candidates), length)
    while True:
        count = np.sum(within_each(ordered.spent, budget[:, None]), axis=1)
        if limit is not None:
            count = np.minimum(count, limit)
        # a row that fits its whole sorted part may fit more: sort twice as much and look again
        short = (count >= ordered.length) & (True if limit is None else limit > ordered.length)
        if ordered.length == ctx.data.n_items or not short.any():
            break
        ordered = ctx.cache[cache_key] = _ordered_part(
            keys(), item_costs(ctx, ctx.candidates), 2 * ordered.length
        )
    cost = np.where(
        count > 0, np.take_along_axis(ordered.spent, np.maximum(count - 1, 0)[:, None], axis=1)[:, 0], 0.0
    )
    selected = np.zeros((ctx.replicates, ctx.data.n_items), dtype=bool)
    np.put_along_axis(selected, ordered.order, np.arange(ordered.length)[None, :] < count[:, None], axis=1)
    return selected, cost


@dataclass(frozen=True)
class _OrderedPart:
    order: np.ndarray
    """(R, K) each row's first K items in order."""
    spent: np.ndarray
    """(R, K) the running cost along them."""

    @property
    def length(self) -> int:
        return self.order.shape[1]


PART_MARGIN = 1.5
"""The first part sorted holds this many times the items the budget buys at each row's mean item cost."""


def _first_length(costs: np.ndarray, budget: np.ndarray, limit: np.ndarray | None) -> int:
    mean_cost = costs.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        buys = np.where(mean_cost > 0, budget / mean_cost, costs.shape[1])
    if limit is not None:
        buys = np.minimum(buys, limit)
    return int(min(costs.shape[1], max(16, np.ceil(PART_MARGIN * float(np.max(buys, initial=0))) + 8)))


def _ordered_part(keys: np.ndarray, costs: np.ndarray, length: int) -> _OrderedPart:
    """The first ``length`` items of each row's order by ``keys`` (distinct keys: random, or jittered), with
    their running costs."""
    length = min(length, keys.shape[1])
    if length == keys.shape[1]:
        order = by_rows(lambda k: np.argsort(k, axis=1, kind="stable"), keys)
    else:
        part = np.argpartition(keys, length - 1, axis=1)[:, :length]
        order = np.take_along_axis(
            part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1, kind="stable"), axis=1
        )
    return _OrderedPart(order=order, spent=np.cumsum(np.take_along_axis(costs, order, axis=1), axis=1))


def _running_totals(order: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, N) running cost along each row's ``order``, and each item's place in it (the inverse permutation)."""

    spent = by_rows(lambda o, c: np.cumsum(np.take_along_axis(c, o, axis=1), axis=1), order, costs)
    return spent, places_rows(order)


def _fitting(
    spent: np.ndarray, places: np.ndarray, budget: np.ndarray, limit: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    # costs are non-negative, so the running total only grows: the items that fit form a prefix
    count = np.sum(within_each(spent, budget[:, None]), axis=1)
    if limit is not None:
        count = np.minimum(count, limit)
    cost = np.where(
        count > 0, np.take_along_axis(spent, np.maximum(count - 1, 0)[:, None], axis=1)[:, 0], 0.0
    )
    return places < count[:, None], cost


EXACT_FLOAT32 = 2**24
"""Whole numbers below this add up exactly in float32, in any order."""


def _observed(ctx: Context) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """The observations as values (NaN as 0) and presence, whether every pair is present, and whether
    the scores are whole numbers (pass/fail)."""
    observed = ctx.observed
    values = ctx.cached("observed-values", lambda: np.where(np.isnan(observed), 0.0, observed))
    present = ctx.cached("observed-present", lambda: (~np.isnan(observed)).astype(np.float64))
    complete = bool(ctx.cached("observed-complete", lambda: np.array(present.all())))
    whole = bool(ctx.cached("observed-whole", lambda: np.array(np.all(values == np.round(values)))))
    return values, present, complete, whole


def _selection_sums(
    ctx: Context, chosen: np.ndarray, columns: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(R, M) sums of each model's observed scores over the ``chosen`` (R, n) bool items (all items, or
    those in ``columns``), and how many of them each model has. Where the scores are whole numbers the
    sums are whole numbers that float32 holds exactly, so the products run in float32 at twice the speed
    with the same result."""
    values, present, complete, whole = _observed(ctx)
    if ctx.observed.ndim == 3:
        weights = chosen.astype(np.float64)
        if columns is not None:
            values, present = values[:, :, columns], present[:, :, columns]
        return np.einsum("rn,rmn->rm", weights, values), np.einsum("rn,rmn->rm", weights, present)
    exact = whole and chosen.shape[1] * max(1.0, float(np.abs(values).max())) < EXACT_FLOAT32
    dtype = np.float32 if exact else np.float64
    key = ("observed-columns", None if columns is None else columns.tobytes(), dtype)

    def make() -> np.ndarray:
        picked = (values, present) if columns is None else (values[:, columns], present[:, columns])
        return np.stack([np.ascontiguousarray(a, dtype=dtype) for a in picked])

    picked_values, picked_present = ctx.cached(key, make)
    weights = chosen.astype(dtype)
    sums = (weights @ picked_values.T).astype(np.float64)
    if complete:
        counts = np.broadcast_to(chosen.sum(axis=1, dtype=np.float64)[:, None], sums.shape)
    else:
        counts = (weights @ picked_present.T).astype(np.float64)
    return sums, counts


def weighted_estimate(ctx: Context, weights: np.ndarray) -> np.ndarray:
    """(R, M) weighted mean of each model's observed scores on the weighted items; ``weights`` may be the
    bool selection itself (equal weights), which takes the exact fast path of ``_selection_sums``."""
    if weights.dtype == np.bool_:
        numerator, denominator = _selection_sums(ctx, weights)
    else:
        values, present, complete, _ = _observed(ctx)
        if ctx.observed.ndim == 2:
            numerator = weights @ values.T
            # with every pair observed the denominator is just each replicate's total weight
            denominator = weights.sum(axis=1)[:, None] if complete else weights @ present.T
        else:
            numerator = np.einsum("rn,rmn->rm", weights, values)
            denominator = np.einsum("rn,rmn->rm", weights, present)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimates = numerator / denominator
    return _fill_missing(estimates, ctx.candidates)


def nan_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the non-NaN values along ``axis``; NaN where there are none (without numpy's warning)."""
    present = ~np.isnan(values)
    count = present.sum(axis=axis)
    total = np.where(present, values, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _fill_missing(estimates: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """A candidate with nothing observed gets its replicate's mean estimate: no information, no rank."""
    missing = np.isnan(estimates)
    if missing.any():
        row_mean = nan_mean(np.where(candidates, estimates, np.nan), axis=1)
        estimates = np.where(missing, np.nan_to_num(row_mean, nan=0.0)[:, None], estimates)
    return estimates


def finish(
    ctx: Context, selected: np.ndarray, estimates: np.ndarray, cost: np.ndarray | None = None
) -> Outcome:
    """The outcome of running ``selected`` for every candidate; ``cost`` where the caller already knows it."""
    if cost is None:
        cost = (selected * item_costs(ctx, ctx.candidates)).sum(axis=1)
    return Outcome(
        estimates=estimates,
        cost=cost,
        items_per_model=selected.sum(axis=1).astype(np.float64),
        selected=selected,
    )


def history_means(ctx: Context) -> np.ndarray:
    """(R, N) each item's mean score over the replicate's history models."""
    scores = ctx.data.scores
    present = ~np.isnan(scores)
    history = ctx.history.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (history @ np.where(present, scores, 0.0)) / (history @ present)
    return np.where(np.isnan(means), 0.5, means)


def predicted_item_cost(ctx: Context) -> np.ndarray:
    """(R, N) predicted cost of running each item for all candidates, from the history models' costs."""

    def make() -> np.ndarray:
        history = ctx.history.astype(np.float64)
        per_model = (history @ ctx.unit_costs) / np.maximum(history.sum(axis=1), 1)[:, None]
        return per_model * ctx.candidates.sum(axis=1)[:, None]

    return ctx.cached("predicted-item-cost", make)


def affordable_items(ctx: Context, budget: np.ndarray) -> np.ndarray:
    """(R,) how many items the budget buys at the predicted mean item cost (at least one)."""
    mean_cost = predicted_item_cost(ctx).mean(axis=1)
    return np.clip(np.floor(budget / np.maximum(mean_cost, 1e-12)), 1, ctx.data.n_items).astype(np.int64)


def calibrate(ctx: Context, estimates: np.ndarray) -> np.ndarray:
    """Map subset means to full-benchmark scores by a line fitted on the history models (whose full scores
    are known); replicates with too little history, or whose line does not rise, are left as they are."""
    truth = ctx.data.full_scores()[None, :]
    weight = ctx.history.astype(np.float64)
    count = weight.sum(axis=1, keepdims=True)
    x_mean = (weight * estimates).sum(axis=1, keepdims=True) / np.maximum(count, 1)
    y_mean = (weight * truth).sum(axis=1, keepdims=True) / np.maximum(count, 1)
    covariance = (weight * (estimates - x_mean) * (truth - y_mean)).sum(axis=1, keepdims=True)
    variance = (weight * (estimates - x_mean) ** 2).sum(axis=1, keepdims=True)
    # a falling line is noise (a model better on the items is not worse on the benchmark): never reverse a ranking
    usable = (count >= 3) & (variance > 1e-12) & (covariance > 0)
    slope = np.where(usable, covariance / np.where(usable, variance, 1), 1.0)
    intercept = np.where(usable, y_mean - slope * x_mean, 0.0)
    return intercept + slope * estimates


# ---- strategies -------------------------------------------------------------------------------------------


def own_order(ctx: Context) -> np.ndarray:
    """(R, N) keys that put every replicate's items in the benchmark's own order."""
    return ctx.cached(
        "own-order",
        lambda: np.broadcast_to(
            np.arange(ctx.data.n_items, dtype=np.float64), (ctx.replicates, ctx.data.n_items)
        ),
    )


def prefix_items(ctx: Context, budget: np.ndarray) -> Outcome:
    """Run the benchmark in its own order until the budget runs out (what ``--limit N`` does elsewhere)."""
    selected, cost = candidates_prefix(ctx, "prefix", partial(own_order, ctx), budget)
    return finish(ctx, selected, weighted_estimate(ctx, selected), cost)


def full(ctx: Context, budget: np.ndarray) -> Outcome:
    """Every item for every candidate, where the budget buys all of it; a replicate whose budget does not
    runs nothing (its estimates are NaN: the strategy does not fit)."""
    prefix_selected, cost = candidates_prefix(ctx, "prefix", partial(own_order, ctx), budget)
    selected = np.asarray(prefix_selected, dtype=bool)
    whole: np.ndarray = np.all(selected, axis=1)
    selected = selected & whole[:, None]
    estimates = np.where(whole[:, None], weighted_estimate(ctx, selected), np.nan)
    return Outcome(
        estimates=estimates,
        cost=np.where(whole, cost, 0.0),
        items_per_model=selected.sum(axis=1).astype(np.float64),
        selected=selected,
    )


def random_keys(ctx: Context, salt: int = 1) -> np.ndarray:
    """(R, N) uniform random keys: the random strategies' item orders, lowest first."""
    return ctx.cached(("random-keys", salt), lambda: ctx.rng(salt).random((ctx.replicates, ctx.data.n_items)))


def random_order(ctx: Context, salt: int = 1) -> np.ndarray:
    """(R, N) the whole order of ``random_keys``, for strategies that walk it (stages, repeats)."""
    return ctx.cached(("random-order", salt), lambda: argsort_rows(random_keys(ctx, salt)))


def random_items(ctx: Context, budget: np.ndarray) -> Outcome:
    """The same random items for every candidate."""
    selected, cost = candidates_prefix(ctx, "random", partial(random_keys, ctx), budget)
    return finish(ctx, selected, weighted_estimate(ctx, selected), cost)


def random_regression(ctx: Context, budget: np.ndarray) -> Outcome:
    """Random items (the same as ``random``'s), each candidate's full-benchmark score predicted from its mean
    over them by the line the history models fit: the strong simple baseline every learned strategy must beat
    (Zhang, Dorner and Hardt, 2025). A rising line keeps random's ranking; the scores come closer."""
    selected, cost = candidates_prefix(ctx, "random", partial(random_keys, ctx), budget)
    return finish(ctx, selected, calibrated_estimate(ctx, selected), cost)


def stratified(ctx: Context, budget: np.ndarray) -> Outcome:
    """Random items in proportion to the strata; post-stratified weights correct what the prefix leaves uneven."""
    strata = ctx.data.strata
    n_strata = int(strata.max()) + 1
    sizes = np.bincount(strata, minlength=n_strata).astype(np.float64)

    def make_keys() -> np.ndarray:
        rng = ctx.rng(2)
        keys = rng.random((ctx.replicates, ctx.data.n_items))
        rank_in_stratum = np.empty_like(keys)
        for s in range(n_strata):
            members = np.flatnonzero(strata == s)
            ranks = places_rows(argsort_rows(keys[:, members]))
            rank_in_stratum[:, members] = (ranks + rng.random((ctx.replicates, members.size))) / sizes[s]
        return rank_in_stratum

    keys = partial(ctx.cached, "stratified-keys", make_keys)
    selected, cost = candidates_prefix(ctx, "stratified", keys, budget)
    return finish(ctx, selected, post_stratified_estimate(ctx, selected), cost)


def post_stratified_estimate(ctx: Context, selected: np.ndarray) -> np.ndarray:
    """Each stratum's observed mean over the ``selected`` items, weighted by the stratum's share of the
    benchmark (strata with no item run leave the others' weights as they are)."""
    strata = ctx.data.strata
    n_strata = int(strata.max()) + 1
    sizes = np.bincount(strata, minlength=n_strata).astype(np.float64)
    share = sizes / sizes.sum()
    numerator = np.zeros((selected.shape[0], ctx.data.n_candidates))
    denominator = np.zeros_like(numerator)
    for s in range(n_strata):
        members = ctx.cached(("stratum-members", s), partial(np.flatnonzero, strata == s))
        chosen = selected[:, members]
        count = chosen.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_item = np.where(count > 0, share[s] / count, 0.0)[:, None]
        sums, present = _selection_sums(ctx, chosen, members)
        numerator += per_item * sums
        denominator += per_item * present
    with np.errstate(invalid="ignore", divide="ignore"):
        return _fill_missing(numerator / denominator, ctx.candidates)


def cost_aware(ctx: Context, budget: np.ndarray) -> Outcome:
    """Cheap items are sampled more often (probability ~ 1/sqrt(predicted cost), Neyman allocation under
    equal variance); weighting each by sqrt(cost) undoes the tilt, so a dollar buys more items unbiasedly."""
    tilt = _cost_tilt(ctx)
    # Efraimidis-Spirakis weighted sampling
    keys = partial(ctx.cached, "cost-aware-keys", lambda: -(np.log(ctx.rng(3).random(tilt.shape)) / tilt))
    selected, cost = candidates_prefix(ctx, "cost-aware", keys, budget)
    return finish(ctx, selected, cost_aware_estimate(ctx, selected), cost)


def _cost_tilt(ctx: Context) -> np.ndarray:
    return ctx.cached("cost-aware-tilt", lambda: 1.0 / np.sqrt(np.maximum(predicted_item_cost(ctx), 1e-12)))


def cost_aware_estimate(ctx: Context, selected: np.ndarray) -> np.ndarray:
    """The mean over the ``selected`` items, each weighted by sqrt(its predicted cost): undoes the tilt
    towards cheap items."""
    return weighted_estimate(ctx, selected / _cost_tilt(ctx))


DISCRIMINATION_COST_EXPONENT = 0.75
"""How strongly discriminative choice prefers cheap items: spread per (predicted dollar ** 0.75). On the
sample store's SWE-bench Verified (holdout 0.5, 10% budget, seeds 2-4) 0.75 ranked best among 0, 0.5,
0.75 and 1 (mean tau 0.847, 0.880, 0.884 and 0.880)."""


def discriminative(ctx: Context, budget: np.ndarray) -> Outcome:
    """Items whose pass rate over the history models is mid-range (Ndzomga), per predicted dollar where the
    benchmark has costs (a dollar buys more of a cheap informative item), calibrated on the history."""

    def make_keys() -> np.ndarray:
        pass_rate = history_means(ctx)
        spread_score = pass_rate * (1 - pass_rate)
        if ctx.data.has_cost:
            spread_score = (
                spread_score / np.maximum(predicted_item_cost(ctx), 1e-12) ** DISCRIMINATION_COST_EXPONENT
            )
        spread_score = spread_score + 1e-12 * ctx.rng(4).random(pass_rate.shape)
        return -spread_score

    keys = partial(ctx.cached, "discriminative-keys", make_keys)
    selected, cost = candidates_prefix(ctx, "discriminative", keys, budget)
    return finish(ctx, selected, calibrated_estimate(ctx, selected), cost)


def calibrated_estimate(ctx: Context, selected: np.ndarray) -> np.ndarray:
    """The mean over the ``selected`` items, mapped to the full benchmark by the line the history models'
    means on the same items and their full scores fit."""
    return calibrate(ctx, weighted_estimate(ctx, selected))


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 15) -> np.ndarray:
    """Cluster labels of ``points`` (n, d) into ``k`` clusters (k-means++ start, Lloyd steps)."""
    n = points.shape[0]
    centres = [points[rng.integers(n)]]
    nearest = np.sum((points - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        total = nearest.sum()
        pick = rng.integers(n) if total <= 0 else rng.choice(n, p=nearest / total)
        centres.append(points[pick])
        nearest = np.minimum(nearest, np.sum((points - points[pick]) ** 2, axis=1))
    centre = np.array(centres)
    labels = np.zeros(n, dtype=np.int64)
    squared = (points**2).sum(1)[:, None]
    for _ in range(iterations):
        distance = squared - 2 * points @ centre.T + (centre**2).sum(1)[None, :]
        labels = np.argmin(distance, axis=1)
        # each centre moves to its members' mean (all at once); an empty cluster keeps its centre
        sums = np.zeros_like(centre)
        np.add.at(sums, labels, points)
        counts = np.bincount(labels, minlength=k)
        filled = counts > 0
        centre[filled] = sums[filled] / counts[filled, None]
    return labels


def anchor(ctx: Context, budget: np.ndarray) -> Outcome:
    """tinyBenchmarks anchor points: cluster items by their correctness over the history models, run each
    cluster's medoid, weight it by the cluster's size."""
    n_items = ctx.data.n_items
    affordable = affordable_items(ctx, budget)
    order = np.empty((ctx.replicates, n_items), dtype=np.int64)
    weights_by_item = np.zeros((ctx.replicates, n_items))
    scores = ctx.data.scores
    for r in range(ctx.replicates):
        history_scores = scores[ctx.history[r]]
        column_mean = np.nan_to_num(np.nanmean(history_scores, axis=0), nan=0.5)
        points = np.where(np.isnan(history_scores), column_mean[None, :], history_scores).T
        k = int(affordable[r])
        if k >= n_items:
            medoids, sizes = np.arange(n_items), np.ones(n_items)
        else:
            labels = _kmeans(points, k, ctx.rng(5, r))
            medoids_list, sizes_list = [], []
            for c in np.unique(labels):
                members = np.flatnonzero(labels == c)
                centre = points[members].mean(axis=0)
                medoids_list.append(members[np.argmin(np.sum((points[members] - centre) ** 2, axis=1))])
                sizes_list.append(members.size)
            medoids, sizes = np.array(medoids_list), np.array(sizes_list, dtype=np.float64)
        by_size = np.argsort(-sizes, kind="stable")
        rest = np.setdiff1d(np.arange(n_items), medoids)
        order[r] = np.concatenate([medoids[by_size], rest])
        weights_by_item[r, medoids] = sizes
    selected = prefix(order, item_costs(ctx, ctx.candidates), budget, limit=np.minimum(affordable, n_items))
    weights = selected * weights_by_item
    outcome = finish(ctx, selected, weighted_estimate(ctx, weights))
    outcome.weights = weights
    return outcome


def _irt_for(ctx: Context, r: int) -> IrtModel:
    key = ("irt", ctx.history[r].tobytes())
    if key not in ctx.cache:
        ctx.cache[key] = fit_2pl(ctx.data.scores[ctx.history[r]])
    return ctx.cache[key]  # type: ignore[return-value]


def irt(ctx: Context, budget: np.ndarray) -> Outcome:
    """Fit a 2PL IRT model on the history, run the most informative items, and estimate each candidate's
    full-benchmark score with gp-IRT: a blend of the observed mean and p-IRT (observed scores plus the
    model's predictions for the items not run), the blend weight chosen on the history models."""
    affordable = affordable_items(ctx, budget)
    models = [_irt_for(ctx, r) for r in range(ctx.replicates)]

    def make_keys() -> np.ndarray:
        information = np.array([m.information() for m in models])
        return -(information + 1e-12 * ctx.rng(6).random(information.shape))

    keys = partial(ctx.cached, "irt-keys", make_keys)
    selected, cost = candidates_prefix(ctx, "irt", keys, budget, limit=affordable)
    return finish(ctx, selected, irt_estimate(ctx, selected), cost)


def irt_estimate(ctx: Context, selected: np.ndarray) -> np.ndarray:
    """gp-IRT: per replicate, the candidates' abilities from the ``selected`` items they ran (2PL fitted on
    the history), p-IRT (their observed scores plus the model's predictions for the rest), blended with the
    observed mean by the weight that fits the history models best."""
    models = [_irt_for(ctx, r) for r in range(selected.shape[0])]
    plain = weighted_estimate(ctx, selected)
    scores = ctx.data.scores
    truth = ctx.data.full_scores()
    estimates = np.empty_like(plain)
    blends = np.linspace(0.0, 1.0, 11)
    for r, model in enumerate(models):
        # the candidates' side sees only what its runs showed (one attempt each), never the full data
        seen = ctx.observed[r] if ctx.observed.ndim == 3 else ctx.observed
        run = selected[r][None, :] & ~np.isnan(seen)
        theta = model.estimate_abilities(seen, run)
        predicted = model.probabilities(theta)
        present = ~np.isnan(scores)
        filled = np.where(run, np.nan_to_num(seen), np.where(present, predicted, 0.0))
        p_irt = filled.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
        history = ctx.history[r]
        errors = [
            np.abs(b * plain[r, history] + (1 - b) * p_irt[history] - truth[history]).mean() for b in blends
        ]
        blend = blends[int(np.argmin(errors))]
        estimates[r] = blend * plain[r] + (1 - blend) * p_irt
    return estimates


ADAPTIVE_AUDIT_SALT = 11


def _candidate_rows(ctx: Context) -> np.ndarray:
    """(R, K) each replicate's candidates' rows (every replicate ranks K)."""
    counts = ctx.candidates.sum(axis=1)
    if counts.size and not np.all(counts == counts[0]):
        raise ValueError("adaptive needs the same number of candidates in every replicate")
    return np.nonzero(ctx.candidates)[1].reshape(ctx.replicates, -1)


def adaptive_parameters(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, N) each replicate's item discrimination and difficulty for adaptive choice (the 2PL fitted on its
    history, discriminations capped: ``stages.item_parameters``), and which items its history identifies
    (some history model passed and some failed: only these are chosen by information)."""

    def make() -> np.ndarray:
        models = [_irt_for(ctx, r) for r in range(ctx.replicates)]
        a, b = item_parameters(
            np.array([m.discrimination for m in models]), np.array([m.difficulty for m in models])
        )
        means = history_means(ctx)
        return np.stack([a, b, ((means > 0) & (means < 1)).astype(np.float64)])

    a, b, identified = ctx.cached("adaptive-parameters", make)
    return a, b, identified > 0


def fix_adaptive_parameters(ctx: Context, a: np.ndarray, b: np.ndarray, identified: np.ndarray) -> None:
    """Make ``adaptive_parameters`` give these (N,) parameters for every replicate: a plan's own, fitted
    when it was made, rather than a refit on what its launches ran."""
    stacked = np.stack([a, b, identified.astype(np.float64)])[:, None, :]
    ctx.cache["adaptive-parameters"] = np.repeat(stacked, ctx.replicates, axis=1)


def per_model_cost(ctx: Context) -> np.ndarray:
    """(R, N) predicted cost of one run of each item for one candidate: the history models' mean."""
    return ctx.cached(
        "per-model-cost",
        lambda: predicted_item_cost(ctx) / np.maximum(ctx.candidates.sum(axis=1), 1)[:, None],
    )


def adaptive(ctx: Context, budget: np.ndarray) -> Outcome:
    """Adaptive testing (Fluid Benchmarking): a random audit slice for every candidate (``stages.AUDIT_SHARE``
    of the budget), then stages in which each candidate runs its own items, the most informative per
    predicted dollar at its ability re-estimated from everything it has run, each candidate's share of a
    stage's money in proportion to its item cost (``engine.stages``, which the launcher applies live).
    Scored by ``adaptive_scores``."""
    rows = _candidate_rows(ctx)
    a, b, identified = adaptive_parameters(ctx)
    per_model = per_model_cost(ctx)
    replicate = np.arange(ctx.replicates)[:, None]
    values = ctx.observed[replicate, rows] if ctx.observed.ndim == 3 else ctx.observed[rows]  # (R, K, N)
    unit = ctx.unit_costs[rows]  # (R, K, N)
    shares = adaptive_shares()
    audit, cost = candidates_prefix(
        ctx, "adaptive-audit", partial(random_keys, ctx, ADAPTIVE_AUDIT_SALT), budget * shares[0]
    )
    stage_of = np.repeat(audit[:, None, :], rows.shape[1], axis=1).astype(np.int8)
    for k, share in enumerate(shares[1:], start=2):
        run = stage_of > 0
        theta = abilities(a, b, values, run & ~np.isnan(values))
        keys = information_keys(a, b, theta, per_model, run | ~identified[:, None, :])
        order = np.argsort(keys, axis=-1, kind="stable")
        in_order = np.take_along_axis(unit, order, axis=-1)
        allowance = stage_allowances(np.maximum(budget * share - cost, 0.0)[:, None], unit.mean(axis=-1))
        picked = np.arange(order.shape[-1]) < allowance_prefix(in_order, allowance)[..., None]
        picked &= np.isfinite(np.take_along_axis(keys, order, axis=-1))
        np.put_along_axis(stage_of, order, np.where(picked, k, np.take_along_axis(stage_of, order, -1)), -1)
        cost = cost + np.sum(np.where(picked, in_order, 0.0), axis=(1, 2))
    ran = stage_of > 0
    picks = np.zeros((ctx.replicates, ctx.data.n_candidates, ctx.data.n_items), dtype=np.int8)
    picks[replicate, rows] = stage_of
    estimates = np.full((ctx.replicates, ctx.data.n_candidates), np.nan)
    estimates[replicate, rows] = adaptive_scores(
        a, b, values, ran & ~np.isnan(values), audit, ~np.isnan(ctx.data.scores[rows])
    )
    return Outcome(
        estimates=_fill_missing(estimates, ctx.candidates),
        cost=cost,
        items_per_model=ran.sum(axis=2).mean(axis=1).astype(np.float64),
        selected=np.asarray(ran.any(axis=1)),
        picks=picks,
    )


def adaptive_estimate(ctx: Context, selection: np.ndarray) -> np.ndarray:
    """``adaptive``'s score from recorded runs: ``selection`` (R, N) is the audit slice (the random items
    every candidate ran), and what each candidate ran is what ``ctx.observed`` shows (NaN where not run)."""
    rows = _candidate_rows(ctx)
    a, b, _ = adaptive_parameters(ctx)
    replicate = np.arange(ctx.replicates)[:, None]
    values = ctx.observed[replicate, rows] if ctx.observed.ndim == 3 else ctx.observed[rows]
    estimates = np.full((ctx.replicates, ctx.data.n_candidates), np.nan)
    present = np.ones(values.shape, dtype=bool)  # a candidate's benchmark is every item
    estimates[replicate, rows] = adaptive_scores(a, b, values, ~np.isnan(values), selection > 0, present)
    return _fill_missing(estimates, ctx.candidates)


@dataclass(frozen=True)
class Staging:
    """A staged strategy: one random item order, the stages' cumulative budget shares, and the rule that
    picks each later stage's candidates (engine.stages; the launcher applies the same rule live)."""

    salt: int
    rule: NarrowRule
    shares: Callable[[int], list[float]]
    """Cumulative share of the budget each stage may have spent by its end, for this many candidates."""
    names: Callable[[int], list[str]]


COARSE_TO_FINE = Staging(
    salt=7,
    rule="top3-interval",
    shares=lambda candidates: [STAGE_ONE_SHARE, 1.0],
    names=lambda candidates: ["coarse", "fine"],
)
SUCCESSIVE_HALVING = Staging(
    salt=10,
    rule="top-half",
    shares=lambda candidates: [
        (k + 1) / halving_rounds(candidates) for k in range(halving_rounds(candidates))
    ],
    names=lambda candidates: [f"round {k + 1}" for k in range(halving_rounds(candidates))],
)


RACE_ROUNDS = 4
RACING = Staging(
    salt=12,
    rule="paired-race",
    shares=lambda candidates: [(k + 1) / RACE_ROUNDS for k in range(RACE_ROUNDS)],
    names=lambda candidates: [f"race {k + 1}" for k in range(RACE_ROUNDS)],
)


def run_staged(ctx: Context, budget: np.ndarray, staging: Staging) -> Outcome:
    """Stage by stage along one random order: each stage runs the next items, whole, for the candidates
    still in, while the spend stays within its cumulative share of the budget; from the second stage on,
    ``staging.rule`` keeps candidates by every result so far. A candidate's estimate is its mean over the
    items it ran."""
    order = random_order(ctx, salt=staging.salt)
    observed = ctx.observed
    n_models = ctx.data.n_candidates
    estimates = np.full((ctx.replicates, n_models), np.nan)
    cost = np.zeros(ctx.replicates)
    items_run = np.zeros(ctx.replicates)
    selected = np.zeros((ctx.replicates, ctx.data.n_items), dtype=bool)
    trace: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for r in range(ctx.replicates):
        rows = observed[r] if observed.ndim == 3 else observed
        alive = np.flatnonzero(ctx.candidates[r])
        totals = np.zeros(n_models)
        counts = np.zeros(n_models)
        position = 0
        stages: list[tuple[np.ndarray, np.ndarray]] = []
        for k, share in enumerate(staging.shares(alive.size)):
            if k > 0 and alive.size:
                alive = alive[keep(staging.rule, rows[np.ix_(alive, order[r, :position])])]
            rest = order[r, position:]
            n, spent = affordable(
                ctx.unit_costs[np.ix_(alive, rest)].sum(axis=0), budget[r] * share - cost[r]
            )
            chunk = rest[:n]
            seen = rows[np.ix_(alive, chunk)]
            totals[alive] += np.nansum(seen, axis=1)
            counts[alive] += np.sum(~np.isnan(seen), axis=1)
            cost[r] += spent
            items_run[r] += n * alive.size
            selected[r, chunk] = True
            position += n
            stages.append((alive.copy(), chunk.copy()))
        trace.append(stages)
        with np.errstate(invalid="ignore", divide="ignore"):
            estimates[r] = np.where(counts > 0, totals / counts, np.nan)
    return Outcome(
        estimates=_fill_missing(estimates, ctx.candidates),
        cost=cost,
        items_per_model=items_run / np.maximum(ctx.candidates.sum(axis=1), 1),
        selected=selected,
        stages=trace,
    )


def coarse_to_fine(ctx: Context, budget: np.ndarray) -> Outcome:
    """Flash-HELM: random items for every candidate with 30% of the budget, then the next random items only
    for the candidates whose 95% interval still reaches the top three."""
    return run_staged(ctx, budget, COARSE_TO_FINE)


def successive_halving(ctx: Context, budget: np.ndarray) -> Outcome:
    """Racing on shared items: the budget in equal rounds; each round runs the next random items for the
    candidates still in, then keeps the better half by their mean so far (unspent money rolls over)."""
    return run_staged(ctx, budget, SUCCESSIVE_HALVING)


def racing(ctx: Context, budget: np.ndarray) -> Outcome:
    """Racing for the winner on shared items: the budget in equal rounds, each round the next random items
    for the candidates still in; after each, a candidate whose paired difference to the leader is
    significantly below zero is out. Aimed at top-1, not at the whole ranking."""
    return run_staged(ctx, budget, RACING)


def repeats(k: int) -> Strategy:
    """Random items, each run ``k`` times per candidate (benchmarks with repeated attempts)."""

    def run(ctx: Context, budget: np.ndarray) -> Outcome:
        data = ctx.data
        counts = np.sum(~np.isnan(data.repeat_scores), axis=2)
        rng = ctx.rng(8, k)
        order = random_order(ctx, salt=9)
        runs = np.minimum(counts, k).astype(np.float64)
        costs = ctx.candidates.astype(np.float64) @ (ctx.unit_costs * runs)
        selected = prefix(order, costs, budget)
        estimates = np.empty((ctx.replicates, data.n_candidates))
        for r in range(ctx.replicates):
            keys = np.where(np.isnan(data.repeat_scores), np.inf, rng.random(data.repeat_scores.shape))
            picks = np.argsort(keys, axis=2)[:, :, :k]
            chosen = np.take_along_axis(data.repeat_scores, picks, axis=2)
            per_item = nan_mean(chosen, axis=2)
            present = ~np.isnan(per_item) & selected[r][None, :]
            total = np.where(present, per_item, 0.0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                estimates[r] = total / present.sum(axis=1)
        estimates = _fill_missing(estimates, ctx.candidates)
        return Outcome(
            estimates=estimates,
            cost=(selected * costs).sum(axis=1),
            items_per_model=selected.sum(axis=1) * float(k),
            selected=selected,
        )

    return run


# ---- the registry: each strategy once, with what the CLI, the app, the planner and the docs say of it ----------


@dataclass(frozen=True)
class StrategySpec:
    name: str
    description: str
    run: Strategy
    estimate: Estimator = weighted_estimate
    """How the strategy turns what its runs showed into full-benchmark scores (the mean over the items run,
    unless the strategy weighs or calibrates them)."""
    learns_from_history: bool = False
    """Looks at the history models' results (judged by leave-models-out)."""
    fits_per_replicate: bool = False
    """Fits a model to each replicate's history (clusters, IRT): tens of milliseconds a replicate."""
    staging: Staging | None = None
    """Staged strategies: the stages and the rule that narrows each later one (shared with the launcher)."""
    all_or_nothing: bool = False
    """Runs everything or nothing: at a budget that does not buy it all, it does not fit."""
    applies: Callable[[BenchmarkData, int], bool] = lambda data, history_size: True
    """Whether it can run on this benchmark with this many history models."""


MIN_HISTORY = 3
MIN_STAGED_CANDIDATES = 4


def has_history(data: BenchmarkData, history_size: int) -> bool:
    return history_size >= MIN_HISTORY


def enough_to_stage(data: BenchmarkData, history_size: int) -> bool:
    return data.n_candidates >= MIN_STAGED_CANDIDATES


REGISTRY: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in (
        StrategySpec(
            "full",
            "every item for every candidate (only where the budget buys all of it)",
            full,
            all_or_nothing=True,
        ),
        StrategySpec(
            "prefix",
            "the benchmark in its own order until the money runs out (--limit N elsewhere)",
            prefix_items,
        ),
        StrategySpec("random", "the same random items for every candidate", random_items),
        StrategySpec(
            "random-regression",
            "random items, the full score predicted by a line fitted on the history (the baseline to beat)",
            random_regression,
            estimate=calibrated_estimate,
            learns_from_history=True,
            applies=has_history,
        ),
        StrategySpec(
            "stratified",
            "random items in proportion to the strata, post-stratified",
            stratified,
            estimate=post_stratified_estimate,
            applies=lambda data, history_size: len(data.stratum_names) > 1,
        ),
        StrategySpec(
            "cost-aware",
            "cheap items sampled more often, weighted back (a dollar buys more items)",
            cost_aware,
            estimate=cost_aware_estimate,
            applies=lambda data, history_size: data.has_cost,
        ),
        StrategySpec(
            "discriminative",
            "items with mid-range pass rates over the history, per dollar, calibrated on the history",
            discriminative,
            estimate=calibrated_estimate,
            learns_from_history=True,
            applies=has_history,
        ),
        StrategySpec(
            "anchor",
            "tinyBenchmarks anchor points: medoids of item clusters, weighted by cluster size",
            anchor,
            learns_from_history=True,
            fits_per_replicate=True,
            applies=has_history,
        ),
        StrategySpec(
            "irt",
            "2PL IRT fitted on the history: the most informative items, gp-IRT estimate",
            irt,
            estimate=irt_estimate,
            learns_from_history=True,
            fits_per_replicate=True,
            applies=has_history,
        ),
        StrategySpec(
            "adaptive",
            "IRT adaptive testing: a random audit slice, then each candidate's most informative items per dollar",
            adaptive,
            estimate=adaptive_estimate,
            learns_from_history=True,
            fits_per_replicate=True,
            applies=has_history,
        ),
        StrategySpec(
            "coarse-to-fine",
            "Flash-HELM: 30% on random items for all, the rest for those whose interval reaches the top 3",
            coarse_to_fine,
            staging=COARSE_TO_FINE,
            applies=enough_to_stage,
        ),
        StrategySpec(
            "racing",
            "racing for the winner: equal rounds on shared random items, out when paired-worse than the leader",
            racing,
            staging=RACING,
            applies=enough_to_stage,
        ),
        StrategySpec(
            "successive-halving",
            "racing on shared random items: equal rounds, the better half kept each round",
            successive_halving,
            staging=SUCCESSIVE_HALVING,
            applies=enough_to_stage,
        ),
    )
}
REPEATS_DESCRIPTION = "random items, each run K times per candidate (benchmarks with repeated attempts)"


def max_repeats(data: BenchmarkData) -> int:
    return int(np.max(np.sum(~np.isnan(data.repeat_scores), axis=2)))


def strategy_spec(name: str) -> StrategySpec:
    """The registered strategy called ``name`` (or ``repeats:K``); an unknown name is refused by name."""
    if name.startswith("repeats:"):
        try:
            k = int(name.split(":", 1)[1])
        except ValueError:
            k = 0
        if k < 1:
            raise InputError(
                f"--strategy {name!r}: repeats takes a whole number of repeats, e.g. 'repeats:3'."
            )
        return StrategySpec(
            name,
            REPEATS_DESCRIPTION.replace("K times", f"{k} times"),
            repeats(k),
            applies=lambda data, history_size: max_repeats(data) >= k,
        )
    if name not in REGISTRY:
        raise InputError(f"--strategy {name!r} is not one of {', '.join([*REGISTRY, 'repeats:K', 'all'])}.")
    return REGISTRY[name]


def applicable_strategies(data: BenchmarkData, history_size: int) -> list[str]:
    """What ``--strategy all`` runs on this benchmark: every registered strategy that applies, and
    ``repeats:1/2/4`` where items were attempted more than once."""
    names = [spec.name for spec in REGISTRY.values() if spec.applies(data, history_size)]
    most = max_repeats(data)
    if most > 1:
        names += [f"repeats:{k}" for k in (1, 2, 4) if k <= most]
    return names
