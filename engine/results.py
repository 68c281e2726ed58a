"""The answer a launched plan gives: each candidate's estimated full-benchmark score with a 90% interval, its
estimated rank with a rank interval, and tiers of candidates the data cannot order.

The score is the plan's own estimator (the strategy's ``estimate``, which the simulator applies to simulated
runs: engine.sim.strategies) applied to the rollouts the plan's launches recorded, with the history models'
past results where the strategy learns from them.

The interval is calibrated by simulation on the history alone (split-conformal): the strategy is replayed
many times at the share of the candidates' full cost the launches reached, with some history models playing
the candidates and the rest their history, and the errors of those estimates against the models' full-
benchmark scores, each divided by the estimate's sampling scale (sqrt(p(1-p)/n) over the n items it ran),
give the quantiles that turn a candidate's estimate into an interval. Bias, calibration error and sampling
error are all in those errors, whatever the strategy; a launch stopped early spent less, so its replays run
fewer items and its intervals come out wider. Ranks come from drawing each candidate's error from the same
errors, and a tier is a leader and the candidates whose interval overlaps the leader's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from statistics import NormalDist

import duckdb
import numpy as np
from pydantic import BaseModel

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.errors import InputError
from evalbudget.engine.plan import PLAN_RUNS, ItemModel, Plan, make_plan, plan_id, replay
from evalbudget.engine.records import INTERVAL_CHECKS, IntervalCheck
from evalbudget.engine.sim.budget import parse_budget
from evalbudget.engine.sim.data import BenchmarkData, load_benchmark
from evalbudget.engine.sim.metrics import Spread, kendall_tau
from evalbudget.engine.sim.strategies import (
    MIN_STAGED_CANDIDATES,
    REGISTRY,
    Context,
    fix_adaptive_parameters,
    strategy_spec,
)
from evalbudget.engine.stages import NARROW_RULES

LEVEL = 0.90
"""The nominal coverage of the score and rank intervals."""
CALIBRATION_REPLICATES = 200
FITTING_REPLICATES = 30
"""Fewer replays calibrate a strategy that fits a model per replicate (anchor's clusters, IRT): each costs
tens of milliseconds, and 30 replays of the history's pseudo-candidates still give well over a hundred errors."""
MIN_CALIBRATION_HISTORY = 4
"""History models the intervals' calibration needs: some play candidates, the rest their history."""
LEARNING_HISTORY = 3
PLAN_REPLICATES = 200
"""What `evalbudget plan` simulates by default."""
RANK_DRAWS = 4000


class ModelResult(BaseModel):
    model: Candidate
    evaluated: bool
    """Whether the launches recorded any rollout of this candidate."""
    items: int
    """Items with at least one recorded rollout."""
    repeats: int
    """The most attempts of one item."""
    rollouts: int
    spend_usd: float | None
    """Known cost of its rollouts (None where the benchmark counts rollouts, not dollars)."""
    score: float | None
    """Estimated full-benchmark score (None when not evaluated)."""
    score_low: float | None
    score_high: float | None
    rank: int | None
    rank_low: int | None
    rank_high: int | None
    tier: int | None
    dropped_at_stage: str | None = None
    """Staged plans: the first stage that did not run this candidate."""
    dropped_because: str | None = None


class Results(BaseModel):
    plan: str
    """The plan's id (what its launches share)."""
    benchmark: str
    strategy: str
    launches: str
    """``launch`` or ``replay``: which runs of the plan the results read."""
    spend_usd: float
    """What the plan's runs spent (rollouts' costs and worst-case charges), or rollouts where the plan counts
    rollouts."""
    budget_units: float
    cost_unit: str
    predicted_fidelity: Spread | None
    """The plan's predicted Kendall tau (mean and 90% interval)."""
    interval_level: float = LEVEL
    intervals: str
    """``calibrated`` (by simulation on the history), or why there are none."""
    missing: str | None = None
    """What the plan asked for that the launches did not run; None when everything ran."""
    interval_check: str | None = None
    """How this strategy's intervals held when last checked on this benchmark (``results --coverage``), or
    how to check them."""
    models: list[ModelResult]


@dataclass(frozen=True)
class Launched:
    """What a plan's launches recorded, per candidate (rows in the plan's order) and item (``items``)."""

    items: list[str]
    scores: np.ndarray
    """(C, N) each item's mean score over the attempts run; NaN where not run."""
    rollouts: np.ndarray
    """(C,) rollouts recorded."""
    repeats: np.ndarray
    """(C,) most attempts of one item."""
    spend: np.ndarray
    """(C,) known cost of the candidate's rollouts."""


def merged_context(
    data: BenchmarkData,
    candidates: Sequence[Candidate],
    history: Sequence[Candidate],
    observed: np.ndarray,
    seed: int,
) -> tuple[Context, np.ndarray]:
    """One replicate whose history rows are ``data``'s past results of ``history`` and whose candidate rows
    are ``observed`` (C, N: the candidates' results on the items run, NaN elsewhere); and the candidates'
    rows. The candidates' rows of ``data.scores`` count every item as the benchmark's (for the estimators
    that predict the items not run); what was run is in ``ctx.observed``."""
    index = {c: i for i, c in enumerate(data.candidates)}
    wanted = set(candidates)
    history_rows = [index[c] for c in history if c in index and c not in wanted]
    unit_costs = data.unit_costs()
    mean_cost = unit_costs[history_rows].mean(axis=0) if history_rows else np.ones(data.n_items)
    candidate_costs = np.array([unit_costs[index[c]] if c in index else mean_cost for c in candidates])
    h, c = len(history_rows), len(candidates)
    merged = replace(
        data,
        candidates=[*[data.candidates[i] for i in history_rows], *candidates],
        scores=np.vstack([data.scores[history_rows], np.where(np.isnan(observed), 0.0, observed)]),
        costs=np.vstack([data.costs[history_rows], candidate_costs.reshape(c, data.n_items)]),
        repeat_scores=np.concatenate(
            [
                data.repeat_scores[history_rows],
                np.repeat(observed[:, :, None], data.repeat_scores.shape[2], 2),
            ]
        ),
        released=None
        if data.released is None
        else np.array(
            [data.released[i] for i in history_rows]
            + [data.released[index[c]] if c in index else np.nan for c in candidates]
        ),
    )
    rows = np.arange(h, h + c)
    picked = np.zeros((1, h + c), dtype=bool)
    picked[0, rows] = True
    past = np.zeros_like(picked)
    past[0, :h] = True
    ctx = Context(
        data=merged,
        candidates=picked,
        history=past if h else picked.copy(),
        unit_costs=merged.unit_costs(),
        observed=np.vstack([data.scores[history_rows], observed]),
        seed=seed,
    )
    return ctx, rows


def estimate_scores(
    data: BenchmarkData,
    candidates: Sequence[Candidate],
    history: Sequence[Candidate],
    strategy: str,
    observed: np.ndarray,
    weights: np.ndarray | None = None,
    seed: int = 0,
    item_model: ItemModel | None = None,
) -> np.ndarray:
    """(C,) the strategy's estimate of each candidate's full-benchmark score from ``observed`` (C, N), with
    ``weights`` (N,) the plan's item weights (anchor points, or adaptive plans' audit slice) where it has
    them, and adaptive plans' ``item_model`` (the item parameters it chose by); NaN for a candidate with no
    result."""
    ctx, rows = merged_context(data, candidates, history, observed, seed)
    if item_model is not None:
        a, b, identified, _ = item_model.arrays()
        column = {item: j for j, item in enumerate(item_model.item_ids)}
        at = np.array([column.get(item, -1) for item in data.items])
        known = at >= 0
        # an item the plan has no parameters for tells nothing (discrimination 0: every ability p = 1/2)
        fix_adaptive_parameters(
            ctx,
            np.where(known, a[at], 0.0),
            np.where(known, b[at], 0.0),
            np.where(known, identified[at], False),
        )
    run = ~np.isnan(observed).all(axis=0)
    selection = run[None, :] if weights is None or not weights.any() else (weights * run)[None, :]
    estimates = np.asarray(strategy_spec(strategy).estimate(ctx, selection)[0, rows], dtype=np.float64)
    return np.where(np.isnan(observed).all(axis=1), np.nan, np.clip(estimates, 0.0, 1.0))


def estimate_weights(plan: Plan, items: Sequence[str], observed: np.ndarray) -> np.ndarray | None:
    """The item weights the plan's estimate needs, over ``items``: anchor points' cluster sizes; for adaptive
    plans, the audit slice (the longest run of the first stage's random order that every candidate ran);
    else None (equal weights)."""
    if plan.item_weights:
        return np.array([plan.item_weights.get(item, 0.0) for item in items])
    if not any(stage.pick is not None for stage in plan.stages):
        return None
    column = {item: j for j, item in enumerate(items)}
    everyone = ~np.isnan(observed).any(axis=0) if observed.shape[0] else np.zeros(len(items), dtype=bool)
    audit = np.zeros(len(items))
    for item in plan.stages[0].item_ids:
        if item not in column or not everyone[column[item]]:
            break
        audit[column[item]] = 1.0
    return audit


def sampling_scale(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """sqrt(p(1-p)/n) of estimates ``scores`` made from ``items`` results each, with p moved towards 1/2 by
    half an item (so a candidate that passed or failed everything still has a scale)."""
    n = np.maximum(items, 1.0)
    p = (np.clip(np.nan_to_num(scores, nan=0.5), 0.0, 1.0) * n + 0.5) / (n + 1.0)
    return np.asarray(np.sqrt(p * (1.0 - p) / n))


def calibration_errors(
    data: BenchmarkData,
    history: Sequence[Candidate],
    strategy: str,
    n_candidates: int,
    share: float,
    seed: int = 0,
    replicates: int | None = None,
) -> ErrorModel | str:
    """Scaled errors (estimate - full score) / sampling scale of the strategy's estimates, simulated on the
    ``history`` models alone at ``share`` of their full cost; or, where they cannot be simulated, why."""
    index = {c: i for i, c in enumerate(data.candidates)}
    rows = np.array([index[c] for c in history if c in index], dtype=np.int64)
    spec = strategy_spec(strategy)
    if rows.size < MIN_CALIBRATION_HISTORY:
        return (
            f"the plan has {rows.size} history models; calibrating intervals needs {MIN_CALIBRATION_HISTORY}"
        )
    k = min(n_candidates, rows.size // 2)
    if spec.staging is not None:
        k = max(k, min(MIN_STAGED_CANDIDATES, n_candidates, rows.size - 1))
    if spec.learns_from_history:
        k = min(k, rows.size - LEARNING_HISTORY)
    if k < 1 or (spec.staging is not None and k < MIN_STAGED_CANDIDATES):
        return f"the plan's {rows.size} history models are too few to replay {strategy} for calibration"
    if replicates is None:
        replicates = FITTING_REPLICATES if spec.fits_per_replicate else CALIBRATION_REPLICATES
    rng = np.random.default_rng([seed, 90])
    candidates = np.zeros((replicates, data.n_candidates), dtype=bool)
    history_mask = np.zeros_like(candidates)
    for r in range(replicates):
        chosen = rng.permutation(rows)
        candidates[r, chosen[:k]] = True
        history_mask[r, chosen[k:]] = True
    unit_costs = data.unit_costs()
    ctx = Context(
        data=data,
        candidates=candidates,
        history=history_mask,
        unit_costs=unit_costs,
        observed=data.scores,
        seed=seed + 91,
    )
    budget = share * (candidates.astype(np.float64) @ unit_costs.sum(axis=1))
    outcome = spec.run(ctx, np.maximum(budget, 0.0))
    items = _items_run(outcome, candidates, data.n_items)
    truth = data.full_scores()[None, :]
    estimates = np.clip(outcome.estimates, 0.0, 1.0)  # as estimate_scores reports them
    errors = (estimates - truth) / sampling_scale(estimates, items)
    usable = candidates & np.isfinite(errors) & (items > 0)
    if usable.sum() < 20:
        return f"too few simulated runs of {strategy} fit the spend to calibrate intervals"
    low, median, high = np.quantile(errors[usable], [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2])
    return ErrorModel(float(low), float(median), float(high), models=int(np.sum(usable.any(axis=0))))


def _items_run(outcome: object, candidates: np.ndarray, n_items: int) -> np.ndarray:
    """(R, M) items each candidate ran in each simulated replicate."""
    stages = getattr(outcome, "stages", None)
    selected = getattr(outcome, "selected")  # noqa: B009 (an Outcome)
    picks = getattr(outcome, "picks", None)
    if picks is not None:
        return np.asarray((picks > 0).sum(axis=2), dtype=np.float64)
    if stages is None:
        return np.broadcast_to(selected.sum(axis=1, dtype=np.float64)[:, None], candidates.shape).copy()
    items = np.zeros(candidates.shape)
    for r, replicate in enumerate(stages):
        for models, chunk in replicate:
            items[r, models] += len(chunk)
    return items


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (the Cornish-Fisher expansion around the normal one, within 1% from 3 degrees of
    freedom up), so intervals widen where few history models calibrate them. Not scipy's: importing
    scipy.stats here would add half a second to every start of the app, which imports this module."""
    z = NormalDist().inv_cdf(p)
    v = max(df, 1.0)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


@dataclass(frozen=True)
class ErrorModel:
    """The calibration's scaled errors, summed up: their median and their 5th and 95th percentiles, and how
    many models they come from. The percentiles' distance from the median is widened by the ratio of
    Student's t quantile (at that many models) to the normal one: few history models, wider intervals."""

    low: float
    median: float
    high: float
    models: int

    @property
    def widening(self) -> float:
        return t_quantile((1 + LEVEL) / 2, self.models - 1) / NormalDist().inv_cdf((1 + LEVEL) / 2)

    def bounds(self) -> tuple[float, float]:
        """The scaled errors' interval: (low, high)."""
        w = self.widening
        return self.median + w * (self.low - self.median), self.median + w * (self.high - self.median)

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Scaled errors at random: a t draw placed on the two sides' spreads (its 5th and 95th percentiles at
        ``bounds``)."""
        low, high = self.bounds()
        t = rng.standard_t(max(self.models - 1, 1), shape) / t_quantile((1 + LEVEL) / 2, self.models - 1)
        return np.asarray(self.median + np.where(t < 0, (self.median - low) * t, (high - self.median) * t))


def intervals(estimates: np.ndarray, items: np.ndarray, errors: ErrorModel) -> tuple[np.ndarray, np.ndarray]:
    """The 90% interval of each estimate: the estimate less its scale times the errors' interval."""
    scale = sampling_scale(estimates, items)
    low, high = errors.bounds()
    return np.clip(estimates - high * scale, 0.0, 1.0), np.clip(estimates - low * scale, 0.0, 1.0)


def rank_intervals(
    estimates: np.ndarray, items: np.ndarray, errors: ErrorModel | None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each evaluated candidate's rank (1 = best) by estimate, and the 5th and 95th percentile of its rank
    when each candidate's error is drawn from the calibration's t distribution (-1 where not evaluated)."""
    n = estimates.size
    rank = np.full(n, -1)
    low = np.full(n, -1)
    high = np.full(n, -1)
    evaluated = np.flatnonzero(np.isfinite(estimates))
    if not evaluated.size:
        return rank, low, high
    est = estimates[evaluated]
    order = np.argsort(-est, kind="stable")
    rank[evaluated[order]] = np.arange(1, evaluated.size + 1)
    if errors is None:
        low[evaluated], high[evaluated] = rank[evaluated], rank[evaluated]
        return rank, low, high
    rng = np.random.default_rng([seed, 92])
    scale = sampling_scale(est, items[evaluated])
    draws = est[None, :] - errors.draw(rng, (RANK_DRAWS, evaluated.size)) * scale[None, :]
    ranks = 1 + np.argsort(np.argsort(-draws, axis=1, kind="stable"), axis=1)
    low[evaluated] = np.floor(np.quantile(ranks, (1 - LEVEL) / 2, axis=0)).astype(int)
    high[evaluated] = np.ceil(np.quantile(ranks, (1 + LEVEL) / 2, axis=0)).astype(int)
    return rank, np.minimum(low, rank), np.maximum(high, rank)


def tiers(estimates: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Tier of each evaluated candidate (1 = top): from the best estimate down, a candidate whose interval
    overlaps the interval of anyone in the current tier joins it (the data cannot order them); one whose
    interval lies wholly below every member's starts the next tier."""
    tier = np.full(estimates.size, -1)
    ranked = np.argsort(-np.nan_to_num(estimates, nan=-np.inf), kind="stable")
    current, floor = 0, np.inf
    for i in (i for i in ranked if np.isfinite(estimates[i])):
        if high[i] < floor:  # below the lowest lower bound of the tier so far
            current, floor = current + 1, low[i]
        else:
            floor = min(floor, low[i])
        tier[i] = current
    return tier


def stage_drops(
    stage_names: Sequence[str], rules: Sequence[str | None], order: Sequence[str], launched: Launched
) -> list[tuple[str | None, str | None]]:
    """A staged plan's candidates: the first stage that did not run each one (and its rule), from which
    candidates ran each item of the plan's order (consecutive items run by the same candidates are one stage's
    run; a later stage never adds a candidate)."""
    column = {item: j for j, item in enumerate(launched.items)}
    ran = ~np.isnan(launched.scores)
    segments: list[frozenset[int]] = []
    for item in order:
        j = column.get(item)
        if j is None or not ran[:, j].any():
            continue
        who = frozenset(np.flatnonzero(ran[:, j]).tolist())
        if not segments or who != segments[-1]:
            segments.append(who)
    drops: list[tuple[str | None, str | None]] = [(None, None)] * ran.shape[0]
    for k in range(1, min(len(segments), len(stage_names))):
        for c in segments[k - 1] - segments[k]:
            if drops[c] == (None, None):
                rule = rules[k]
                drops[c] = (stage_names[k], f"not {NARROW_RULES[rule]}" if rule in NARROW_RULES else rule)
    return drops


# ---- from the store ---------------------------------------------------------------------------------------


def plan_runs(conn: duckdb.DuckDBPyConnection, plan: Plan) -> tuple[list[str], str]:
    """The runs whose rollouts answer ``plan``: its real launches, else its replays; and which they are."""
    pid = plan_id(plan)
    for kind, replayed in (("launch", False), ("replay", True)):
        runs = [
            str(r[0])
            for r in conn.execute(
                f"{PLAN_RUNS} AND run_id IN (SELECT DISTINCT run_id FROM rollouts)",
                {"plan": pid, "replay": replayed},
            ).fetchall()
        ]
        if runs:
            return runs, kind
    raise InputError(
        f"The store holds no launch of this plan ({pid}) with a recorded rollout; launch it first "
        "(evalbudget launch PLAN ...)."
    )


def launched(conn: duckdb.DuckDBPyConnection, runs: Sequence[str], plan: Plan, items: list[str]) -> Launched:
    """The plan's candidates' recorded rollouts, as per-item mean scores over ``items`` (extended by any item
    the launches ran that ``items`` lacks)."""
    rows = conn.execute(
        """
        SELECT model, scaffold, item_id, count(*), avg(coalesce(score, 0)), sum(cost_usd)
        FROM rollouts WHERE list_contains($runs, run_id) GROUP BY ALL
        """,
        {"runs": list(runs)},
    ).fetchall()
    columns = {item: j for j, item in enumerate(items)}
    all_items = list(items)
    for _, _, item, *_ in rows:
        if item not in columns:
            columns[item] = len(all_items)
            all_items.append(item)
    c = len(plan.candidates)
    scores = np.full((c, len(all_items)), np.nan)
    rollouts = np.zeros(c, dtype=np.int64)
    repeats = np.zeros(c, dtype=np.int64)
    spend = np.zeros(c)
    for model, scaffold, item, count, mean, cost in rows:
        for k, who in enumerate(plan.candidates):
            if who.matches(model, scaffold):
                scores[k, columns[item]] = mean
                rollouts[k] += count
                repeats[k] = max(repeats[k], count)
                spend[k] += cost or 0.0
                break
    return Launched(all_items, scores, rollouts, repeats, spend)


def _with_items(data: BenchmarkData, items: list[str]) -> BenchmarkData:
    """``data`` over ``items`` (its own first): items it lacks have no past result."""
    extra = len(items) - data.n_items
    if extra <= 0:
        return data
    pad = np.full((data.n_candidates, extra), np.nan)
    return replace(
        data,
        items=items,
        strata=np.concatenate([data.strata, np.zeros(extra, dtype=np.int64)]),
        scores=np.hstack([data.scores, pad]),
        costs=np.hstack([data.costs, pad]),
        repeat_scores=np.concatenate(
            [data.repeat_scores, np.full((data.n_candidates, extra, data.repeat_scores.shape[2]), np.nan)],
            axis=1,
        ),
    )


def plan_results(conn: duckdb.DuckDBPyConnection, plan: Plan) -> Results:
    """What the plan's launches recorded, turned into the estimated leaderboard."""
    runs, kind = plan_runs(conn, plan)
    try:
        data = load_benchmark(conn, plan.benchmark, without_plan=plan_id(plan))
    except InputError:  # nothing but this plan's launches: no history
        data = BenchmarkData(
            benchmark=plan.benchmark,
            candidates=[],
            items=[],
            strata=np.zeros(0, dtype=np.int64),
            stratum_names=[""],
            scores=np.zeros((0, 0)),
            costs=np.zeros((0, 0)),
            repeat_scores=np.zeros((0, 0, 1)),
            has_cost=plan.cost_unit == "usd",
        )
    got = launched(conn, runs, plan, list(data.items))
    data = _with_items(data, got.items)
    known = plan.strategy in REGISTRY or plan.strategy.startswith("repeats:")
    strategy = plan.strategy if known else "random"
    estimates = estimate_scores(
        data,
        plan.candidates,
        plan.history_models,
        strategy,
        got.scores,
        estimate_weights(plan, got.items, got.scores),
        plan.seed,
        plan.item_model,
    )
    items = np.sum(~np.isnan(got.scores), axis=1).astype(np.float64)
    errors: ErrorModel | str
    if not known:
        errors = f"a {plan.strategy!r} plan's items were not chosen by a strategy the simulator can replay"
    else:
        errors = calibration_errors(
            data,
            plan.history_models,
            strategy,
            int(np.sum(items > 0)) or len(plan.candidates),
            _share_run(data, plan, got),
            plan.seed,
        )
    check_line = None
    if isinstance(errors, ErrorModel):
        check = last_check(conn, plan.benchmark, strategy)
        if check is None:
            check_line = (
                f"not checked on {plan.benchmark} yet: evalbudget results --coverage {plan.benchmark} "
                f"--strategy {strategy} measures how they hold"
            )
        elif verdict(check.coverage) == "too narrow":
            errors = (
                f"when checked on {plan.benchmark} ({check.splits} plans at {check.budget}), {strategy}'s "
                f"{LEVEL:.0%} intervals covered {check.coverage:.0%} of the full-data scores (target "
                f"{COVERAGE_TARGET[0]:.0%}-{COVERAGE_TARGET[1]:.0%}), so none are shown"
            )
        else:
            check_line = (
                f"checked on {plan.benchmark}: they covered {check.coverage:.0%} of the full-data scores in "
                f"{check.splits} replayed plans at {check.budget}"
                + (" (wider than they need be)" if verdict(check.coverage) == "too wide" else "")
            )
    calibrated = errors if isinstance(errors, ErrorModel) else None
    if calibrated is not None:
        low, high = intervals(estimates, items, calibrated)
    else:
        low = high = np.full(estimates.shape, np.nan)
    rank, rank_low, rank_high = rank_intervals(estimates, items, calibrated, plan.seed)
    tier = tiers(estimates, low, high) if calibrated is not None else np.full(estimates.shape, -1)
    drops: list[tuple[str | None, str | None]] = [(None, None)] * len(plan.candidates)
    if (
        len(plan.stages) > 1
        and all(s.until_budget for s in plan.stages)
        and plan.stages[-1].narrow is not None
    ):
        drops = stage_drops(
            [s.name for s in plan.stages], [s.narrow for s in plan.stages], plan.stages[0].item_ids, got
        )

    def value(array: np.ndarray, i: int) -> float | None:
        return float(array[i]) if np.isfinite(array[i]) else None

    def whole(array: np.ndarray, i: int) -> int | None:
        return int(array[i]) if array[i] >= 0 else None

    models = [
        ModelResult(
            model=who,
            evaluated=bool(got.rollouts[i] > 0),
            items=int(items[i]),
            repeats=int(got.repeats[i]),
            rollouts=int(got.rollouts[i]),
            spend_usd=float(got.spend[i]) if plan.cost_unit == "usd" else None,
            score=value(estimates, i),
            score_low=value(low, i),
            score_high=value(high, i),
            rank=whole(rank, i),
            rank_low=whole(rank_low, i),
            rank_high=whole(rank_high, i),
            tier=whole(tier, i),
            dropped_at_stage=drops[i][0],
            dropped_because=drops[i][1],
        )
        for i, who in enumerate(plan.candidates)
    ]
    models.sort(key=lambda m: (m.rank is None, m.rank or 0))
    fidelity = plan.predicted_fidelity.kendall_tau if plan.predicted_fidelity else None
    return Results(
        plan=plan_id(plan),
        benchmark=plan.benchmark,
        strategy=plan.strategy,
        launches=kind,
        spend_usd=_spend(conn, runs, plan),
        budget_units=plan.budget_units,
        cost_unit=plan.cost_unit,
        predicted_fidelity=fidelity,
        intervals="calibrated" if calibrated is not None else f"none: {errors}",
        missing=_missing(plan, got),
        interval_check=check_line,
        models=models,
    )


def _share_run(data: BenchmarkData, plan: Plan, got: Launched) -> float:
    """What the launches ran, as a share of running every item once for every candidate that ran any."""
    index = {c: i for i, c in enumerate(data.candidates)}
    unit = data.unit_costs() if data.n_candidates else np.ones((0, data.n_items))
    fallback = unit.mean(axis=0) if unit.size else np.ones(data.n_items)
    costs = np.array([unit[index[c]] if c in index else fallback for c in plan.candidates])
    ran = ~np.isnan(got.scores)
    evaluated = ran.any(axis=1)
    full = float(costs[evaluated].sum())
    return float((costs * ran).sum() / full) if full > 0 else 0.0


def _spend(conn: duckdb.DuckDBPyConnection, runs: Sequence[str], plan: Plan) -> float:
    """What the runs spent: their rollouts' costs and worst-case charges (their rollouts, in a plan that
    counts rollouts)."""
    params = {"runs": list(runs)}
    if plan.cost_unit != "usd":
        count = conn.execute(
            "SELECT count(*) FROM rollouts WHERE list_contains($runs, run_id)", params
        ).fetchone()
        return float(count[0]) if count else 0.0
    total = conn.execute(
        """
        SELECT coalesce((SELECT sum(cost_usd) FROM rollouts WHERE list_contains($runs, run_id)), 0)
             + coalesce((SELECT sum(cost_usd) FROM charges WHERE list_contains($runs, run_id)), 0)
        """,
        params,
    ).fetchone()
    return float(total[0]) if total else 0.0


def _missing(plan: Plan, got: Launched) -> str | None:
    """One line on what the plan asked for that did not run."""
    parts = []
    if not any(stage.until_budget for stage in plan.stages):
        planned = sum(len(s.models) * len(s.item_ids) * s.repeats for s in plan.stages)
        done = int(got.rollouts.sum())
        if done < planned:
            parts.append(
                f"{planned - done:,} of the {planned:,} planned rollouts did not run (the launch stopped: the "
                "cap, Ctrl-C or failed requests); the intervals are for what ran"
            )
    idle = [str(c) for c, n in zip(plan.candidates, got.rollouts, strict=True) if n == 0]
    if idle:
        parts.append(f"not evaluated: {', '.join(idle)}")
    return "; ".join(parts) or None


# ---- as text ------------------------------------------------------------------------------------------------


def _money(results: Results, value: float) -> str:
    return f"${value:,.2f}" if results.cost_unit == "usd" else f"{value:,.0f} rollouts"


def header_lines(results: Results) -> list[str]:
    lines = [
        f"results of {results.plan} on {results.benchmark}: strategy {results.strategy}, from its "
        f"{'launches' if results.launches == 'launch' else 'replays (a dry run on past data)'}",
        f"spent      {_money(results, results.spend_usd)} of {_money(results, results.budget_units)}",
    ]
    if results.predicted_fidelity is not None:
        tau = results.predicted_fidelity
        lines.append(f"predicted  Kendall tau {tau.mean:.3f} (90%: {tau.p05:.3f} - {tau.p95:.3f})")
    if results.intervals == "calibrated":
        lines.append(
            f"intervals  {results.interval_level:.0%}, calibrated by replaying the strategy on the history models"
        )
    else:
        lines.append(f"intervals  {results.intervals}")
    if results.interval_check:
        lines.append(f"           {results.interval_check}")
    if results.missing:
        lines.append(f"missing    {results.missing}")
    return lines


def _cells(m: ModelResult) -> tuple[str, str, str, str, str]:
    """score, its interval, rank, rank interval, tier as text."""
    if not m.evaluated or m.score is None:
        return "not evaluated", "", "", "", ""
    interval = (
        "" if m.score_low is None or m.score_high is None else f"[{m.score_low:.3f}, {m.score_high:.3f}]"
    )
    ranks = "" if m.rank_low is None else f"{m.rank_low}-{m.rank_high}"
    return f"{m.score:.3f}", interval, str(m.rank), ranks, "" if m.tier is None else str(m.tier)


def format_results(results: Results) -> str:
    from evalbudget.engine.tables import Col, render_table

    staged = any(m.dropped_at_stage for m in results.models)
    columns = [
        Col("rank", True),
        Col("model", max_width=40),
        Col("score", True),
        Col(f"{results.interval_level:.0%} interval", True),
        Col("rank range", True),
        Col("tier", True),
        Col("items", True),
    ]
    if staged:
        columns.append(Col("dropped at", max_width=16))
    rows = []
    for m in results.models:
        score, interval, rank, ranks, tier = _cells(m)
        row = [rank, str(m.model), score, interval, ranks, tier, m.items]
        if staged:
            row.append(m.dropped_at_stage or "")
        rows.append(tuple(row))
    lines = [*header_lines(results), "", render_table(columns, rows)]
    reasons = {m.dropped_at_stage: m.dropped_because for m in results.models if m.dropped_at_stage}
    lines += [f"dropped at {stage}: {why}" for stage, why in reasons.items()]
    return "\n".join(lines)


def markdown_results(results: Results) -> str:
    """A table to paste into a report, its header lines as a list above it."""
    lines = [f"- {line}" for line in header_lines(results)]
    lines += [
        "",
        f"| rank | model | score | {results.interval_level:.0%} interval | rank range | tier | items |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in results.models:
        score, interval, rank, ranks, tier = _cells(m)
        model = str(m.model).replace("|", "\\|")
        lines.append(f"| {rank} | {model} | {score} | {interval} | {ranks} | {tier} | {m.items} |")
    return "\n".join(lines)


# ---- do the intervals hold? ----------------------------------------------------------------------------------


class CoverageCheck(BaseModel):
    """How a strategy's intervals held on a benchmark's past data: plans for random halves of the models
    (the other half their history), replayed on the candidates' real results, compared with their full-data
    scores."""

    benchmark: str
    strategy: str
    budget: str
    splits: int
    coverage: float
    """Share of candidates whose full-data score fell inside its 90% interval."""
    width: float
    """Mean width of the intervals."""
    tau_inside: float
    """Share of splits whose Kendall tau (estimates vs full-data scores) fell inside the plan's predicted 90%
    interval."""
    equal_split_by_tiers: int
    """Pairs of candidates with equal full-data scores that the tiers put apart."""


def interval_coverage(
    data: BenchmarkData,
    strategy: str,
    budget: str = "10%",
    splits: int = 40,
    seed: int = 0,
    plan_replicates: int | None = None,
) -> CoverageCheck:
    """Replay ``splits`` plans of ``strategy`` on ``data`` and measure how their intervals held. Each plan is
    simulated with ``plan_replicates`` replicates (default: the planner's 200, or 40 for a strategy that fits
    a model per replicate, whose predicted tau interval is then the noisier)."""
    if plan_replicates is None:
        plan_replicates = 40 if strategy_spec(strategy).fits_per_replicate else PLAN_REPLICATES
    truth = data.full_scores()
    index = {c: i for i, c in enumerate(data.candidates)}
    column = {item: j for j, item in enumerate(data.items)}
    inside: list[float] = []
    widths: list[float] = []
    taus: list[bool] = []
    equal_apart = 0
    for split in range(splits):
        order = np.random.default_rng([seed, 93, split]).permutation(data.n_candidates)
        candidates = [data.candidates[i] for i in order[: data.n_candidates // 2]]
        plan = make_plan(
            data,
            candidates,
            parse_budget(budget),
            replicates=plan_replicates,
            seed=seed + split,
            strategies=[strategy],
        )
        observed = np.full((len(candidates), data.n_items), np.nan)
        position = {c: k for k, c in enumerate(plan.candidates)}
        for stage in replay(plan, data).stages:
            for model, item in stage.pairs():
                observed[position[model], column[item]] = data.scores[index[model], column[item]]
        estimates = estimate_scores(
            data,
            plan.candidates,
            plan.history_models,
            plan.strategy,
            observed,
            estimate_weights(plan, data.items, observed),
            plan.seed,
            plan.item_model,
        )
        rows = np.array([index[c] for c in plan.candidates])
        ran = ~np.isnan(observed)
        unit = data.unit_costs()[rows]
        errors = calibration_errors(
            data,
            plan.history_models,
            plan.strategy,
            len(candidates),
            float((unit * ran).sum() / unit.sum()),
            plan.seed,
        )
        if isinstance(errors, str):
            raise InputError(f"{strategy} on {data.benchmark}: no intervals ({errors}).")
        low, high = intervals(estimates, ran.sum(axis=1).astype(np.float64), errors)
        real = truth[rows]
        seen = np.isfinite(estimates)  # a candidate whose past results lack every item run is not evaluated
        if not seen.any():
            continue
        inside.append(float(np.mean(((real >= low) & (real <= high))[seen])))
        widths.append(float(np.mean((high - low)[seen])))
        tier = tiers(estimates, low, high)
        pairs = (
            (real[:, None] == real[None, :])
            & (tier[:, None] != tier[None, :])
            & seen[:, None]
            & seen[None, :]
        )
        equal_apart += int(np.sum(np.triu(pairs, 1)))
        tau = float(kendall_tau(real, np.nan_to_num(estimates)[None, :], seen[None, :])[0])
        fidelity = plan.predicted_fidelity.kendall_tau if plan.predicted_fidelity else None
        taus.append(fidelity is not None and fidelity.p05 - 1e-9 <= tau <= fidelity.p95 + 1e-9)
    return CoverageCheck(
        benchmark=data.benchmark,
        strategy=strategy,
        budget=budget,
        splits=splits,
        coverage=float(np.mean(inside)),
        width=float(np.mean(widths)),
        tau_inside=float(np.mean(taus)),
        equal_split_by_tiers=equal_apart,
    )


COVERAGE_STRATEGIES = (
    "random",
    "prefix",
    "stratified",
    "cost-aware",
    "discriminative",
    "anchor",
    "irt",
    "coarse-to-fine",
    "successive-halving",
)
"""What ``evalbudget results --coverage`` checks by default (where they apply)."""
COVERAGE_TARGET = (0.85, 0.95)
COVERAGE_SLACK = 0.02
"""40 replayed plans measure coverage to about two points: a check within this of the target passes."""


def verdict(coverage: float) -> str:
    """``holds``, ``too narrow`` (the intervals miss too often: not shown) or ``too wide`` (shown)."""
    low, high = COVERAGE_TARGET
    if coverage < low - COVERAGE_SLACK:
        return "too narrow"
    if coverage > high + COVERAGE_SLACK:
        return "too wide"
    return "holds"


def record_check(conn: duckdb.DuckDBPyConnection, check: CoverageCheck) -> None:
    """Keep ``check`` as the last one of its benchmark and strategy."""
    values = IntervalCheck(
        check.benchmark,
        check.strategy,
        check.budget,
        check.splits,
        check.coverage,
        check.width,
        check.tau_inside,
        datetime.now(UTC).replace(tzinfo=None),
    )
    conn.execute(
        f"{INTERVAL_CHECKS.insert()} VALUES ({', '.join('?' for _ in INTERVAL_CHECKS.names)}) "
        "ON CONFLICT (benchmark, strategy) DO UPDATE SET budget = excluded.budget, splits = excluded.splits, "
        "coverage = excluded.coverage, width = excluded.width, tau_inside = excluded.tau_inside, "
        "checked_at = excluded.checked_at",
        [getattr(values, name) for name in INTERVAL_CHECKS.names],
    )


def last_check(conn: duckdb.DuckDBPyConnection, benchmark: str, strategy: str) -> CoverageCheck | None:
    row = conn.execute(
        "SELECT budget, splits, coverage, width, tau_inside FROM interval_checks WHERE benchmark = ? AND strategy = ?",
        [benchmark, strategy],
    ).fetchone()
    if row is None:
        return None
    budget, splits, coverage, width, tau_inside = row
    return CoverageCheck(
        benchmark=benchmark,
        strategy=strategy,
        budget=budget,
        splits=splits,
        coverage=coverage,
        width=width if width is not None else float("nan"),
        tau_inside=tau_inside if tau_inside is not None else float("nan"),
        equal_split_by_tiers=0,
    )


def format_coverage(checks: Sequence[CoverageCheck]) -> str:
    from evalbudget.engine.tables import Col, render_table

    columns = [
        Col("strategy"),
        Col("coverage", True),
        Col("width", True),
        Col("tau inside", True),
        Col("equal pairs split", True),
        Col("verdict", True),
    ]
    low, high = COVERAGE_TARGET
    rows = [
        (
            c.strategy,
            f"{c.coverage:.3f}",
            f"{c.width:.3f}",
            f"{c.tau_inside:.2f}",
            c.equal_split_by_tiers,
            verdict(c.coverage),
        )
        for c in checks
    ]
    first = checks[0] if checks else None
    head = (
        f"{first.benchmark}: {first.splits} plans per strategy at {first.budget} for random halves of the models, "
        f"replayed; coverage of the {LEVEL:.0%} score intervals (target {low:.0%}-{high:.0%}), their mean "
        "width, the share of plans whose Kendall tau fell inside the predicted 90% interval, and pairs of "
        "equal full-data scores the tiers split"
        if first
        else "no strategy checked"
    )
    return head + "\n\n" + render_table(columns, rows)
