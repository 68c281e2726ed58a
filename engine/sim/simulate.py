"""Replay strategies on a benchmark's past results and report their cost and ranking fidelity.

Each replicate draws its candidates (all models, or with ``holdout`` a share of them, the rest being the
history that learning strategies may look at), and on benchmarks with repeats the one attempt each item's run
would have shown. Every strategy sees the same replicates, so their results compare.

How the held-out share is drawn is the split (``SPLITS``): ``random`` models, the ``strongest`` by full
score, the common case of a new frontier model planned for with weaker models' history (most subset methods
lose their edge there: Zhang, Dorner and Hardt, 2025), or the ``newest`` by release date (where the store
knows when the models came out).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from evalbudget.engine.errors import InputError
from evalbudget.engine.sim.budget import Budget, budget_units
from evalbudget.engine.sim.data import BenchmarkData
from evalbudget.engine.sim.metrics import Fidelity, Spread, fidelity, spread
from evalbudget.engine.sim.strategies import (
    MIN_HISTORY,
    Context,
    Outcome,
    applicable_strategies,
    strategy_spec,
)
from evalbudget.engine.tables import Col, render_table
from evalbudget.pricing import GpuCard


class ItemsPerModel(BaseModel):
    mean: float


class StrategyResult(BaseModel):
    strategy: str
    budget: str
    budget_units: float
    """The budget in the benchmark's units (dollars, or rollouts without cost data), mean over replicates."""
    cost_usd: Spread
    """Realised cost per replicate (rollouts where the benchmark has no cost data)."""
    items_per_model: ItemsPerModel
    kendall_tau: Spread
    top1_recovery: float
    topk_overlap: float
    mae: float
    max_rank_displacement: float
    dior: float
    separated: float | None = None
    """With --difference d: the share of candidate pairs at least d apart (full data) ordered right."""


class SimulationReport(BaseModel):
    benchmark: str
    models: int
    items: int
    full_cost_usd: float | None
    """Cost of one full pass: every model on every item once; None without cost data."""
    full_rollouts: int
    """Rollouts the store holds for the benchmark (all attempts)."""
    cost_unit: str
    """``usd``, or ``rollouts`` where the benchmark has no cost data."""
    holdout_models: float | None
    holdout_split: str = "random"
    """How the held-out candidates were chosen (SPLITS)."""
    candidates_per_replicate: int
    replicates: int
    seed: int
    in_sample: bool
    """True when learning strategies saw the candidates themselves (no --holdout-models): optimistic."""
    results: list[StrategyResult]
    not_fitting: list[str] = []
    """Strategies that run everything or nothing (full), at the budgets that do not buy everything."""


SPLITS = ("random", "strongest", "newest")
"""How the candidates are held out from the history: a random share of the models, or of a random draw of the
models the strongest share by full-benchmark score, or the newest by release date (``_top_share``)."""

ARRAYS_PER_REPLICATE = 8
"""About how many replicates x models x items arrays of 8 bytes a simulation holds at once (orders, running
totals, places, observations, selections)."""


def check_memory(data: BenchmarkData, replicates: int) -> None:
    """Refuse a simulation that could not fit in this machine's memory, saying what it would need."""
    needed = replicates * max(data.n_candidates, 1) * max(data.n_items, 1) * 8 * ARRAYS_PER_REPLICATE
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if needed > physical:
        raise InputError(
            f"--replicates {replicates:,} would need about {needed / 2**30:,.0f} GiB on {data.benchmark} "
            f"({data.n_candidates} models x {data.n_items} items); this machine has {physical / 2**30:,.0f} GiB: "
            "use fewer replicates (200 is plenty for a 90% interval)."
        )


def default_holdout(models: int) -> float | None:
    """The share of models the planning views hold out when the user names none: half, where there are
    enough models (six) for half to be a history; else none (in-sample)."""
    return 0.5 if models >= 6 else None


def make_context(
    data: BenchmarkData, *, holdout: float | None, replicates: int, seed: int, split: str = "random"
) -> tuple[Context, int]:
    """The replicates' candidates, history and observations; returns the context and candidates per replicate."""
    models = data.n_candidates
    if models < 2:
        raise InputError(f"Benchmark {data.benchmark!r} has {models} model; ranking needs at least two.")
    rng = np.random.default_rng([seed, 0])
    if holdout is None:
        candidates = np.ones((replicates, models), dtype=bool)
        history = candidates.copy()
        per_replicate = models
    else:
        if not 0 < holdout < 1:
            raise InputError(f"--holdout-models {holdout:g} must be a share between 0 and 1 (e.g. 0.5).")
        per_replicate, _ = split_sizes(models, holdout, split)
        keys = rng.random((replicates, models))
        if split == "random":
            chosen = np.argsort(keys, axis=1)[:, :per_replicate]
            candidates = np.zeros((replicates, models), dtype=bool)
            np.put_along_axis(candidates, chosen, True, axis=1)
            history = ~candidates
        else:
            candidates, history, per_replicate = _top_share(_ordering(data, split), keys, holdout, split)
    counts = np.sum(~np.isnan(data.repeat_scores), axis=2)
    if counts.max() > 1:
        # one run of an item shows one attempt: draw which, per replicate
        pick = np.floor(rng.random((replicates, *counts.shape)) * np.maximum(counts, 1)).astype(np.int64)
        observed = np.take_along_axis(data.repeat_scores[None, :, :, :], pick[..., None], axis=3)[..., 0]
        observed = np.where(counts[None] > 0, observed, np.nan)
    else:
        observed = data.scores
    context = Context(
        data=data,
        candidates=candidates,
        history=history,
        unit_costs=data.unit_costs(),
        observed=observed,
        seed=seed,
    )
    return context, per_replicate


STRONGEST_DRAW = 0.75
"""The share of the models each replicate of the strongest split draws before holding out its strongest."""


def drawn_count(models: int) -> int:
    """How many of ``models`` each replicate of the strongest and newest splits draws."""
    return min(models, max(4, round(STRONGEST_DRAW * models)))


def holdout_for(models: int, wanted: int, split: str) -> float:
    """The ``holdout`` share that gives ``wanted`` candidates per replicate on ``split`` (the strongest and
    newest take their share of each replicate's draw, not of every model)."""
    return wanted / (models if split == "random" else drawn_count(models))


def split_sizes(models: int, holdout: float, split: str) -> tuple[int, int]:
    """(candidates, history models) per replicate for ``models`` models, ``holdout`` and ``split``; a split that
    leaves too few of either is refused."""
    if split not in SPLITS:
        raise InputError(f"--holdout-split {split!r} is not one of {', '.join(SPLITS)}.")
    if split == "random":
        per_replicate = round(holdout * models)
        if per_replicate < 2 or models - per_replicate < 1:
            raise InputError(
                f"--holdout-models {holdout:g} of {models} models leaves {per_replicate} candidates and "
                f"{models - per_replicate} history models; ranking needs two candidates and learning one history model."
            )
        return per_replicate, models - per_replicate
    drawn = drawn_count(models)
    per_replicate = max(2, round(holdout * drawn))
    if drawn - per_replicate < 1:
        raise InputError(
            f"--holdout-models {holdout:g} of the {drawn} models each replicate draws leaves no history."
        )
    return per_replicate, drawn - per_replicate


MIN_DATED = 4
"""The newest split needs release dates for at least this many models."""


def _ordering(data: BenchmarkData, split: str) -> np.ndarray:
    """(M,) what a split other than random holds out the top of: full score, or release date (NaN: unknown)."""
    if split == "strongest":
        return data.full_scores()
    released = data.released if data.released is not None else np.full(data.n_candidates, np.nan)
    dated = int(np.sum(np.isfinite(released)))
    if dated < MIN_DATED:
        raise InputError(
            f"--holdout-split newest needs release dates: the store knows them for {dated} of the "
            f"{data.n_candidates} models on {data.benchmark} (add a release_date column to a table file, or "
            "ingest results that record when they ran)."
        )
    return released


def drawable(data: BenchmarkData, split: str) -> int:
    """How many of the benchmark's models the split draws from (the newest split: those with a date)."""
    if split == "random":
        return data.n_candidates
    return int(np.sum(np.isfinite(_ordering(data, split))))


def _top_share(
    strength: np.ndarray, keys: np.ndarray, holdout: float, split: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """The strongest or newest split: each replicate draws STRONGEST_DRAW of the models that have a
    ``strength`` (score or date) at random (so replicates differ), and of those the ``holdout`` share with the
    highest are the candidates, the rest of the draw the history: every candidate is at least as strong (or
    new) as every history model it is planned with."""
    replicates, models = keys.shape
    known = np.isfinite(strength)
    per_replicate, history_size = split_sizes(int(known.sum()), holdout, split)
    # models without a strength are never drawn
    drawn = np.argsort(np.where(known[None, :], keys, np.inf), axis=1)[:, : per_replicate + history_size]
    strength = strength[drawn]
    ranked = np.take_along_axis(drawn, np.argsort(-strength, axis=1, kind="stable"), axis=1)
    candidates = np.zeros((replicates, models), dtype=bool)
    history = np.zeros_like(candidates)
    np.put_along_axis(candidates, ranked[:, :per_replicate], True, axis=1)
    np.put_along_axis(history, ranked[:, per_replicate:], True, axis=1)
    return candidates, history, per_replicate


def full_costs(ctx: Context) -> np.ndarray:
    """(R,) cost of one full pass: every candidate of the replicate on every item, once."""
    return ctx.candidates.astype(np.float64) @ ctx.unit_costs.sum(axis=1)


def run_strategy(ctx: Context, name: str, budget: np.ndarray) -> Outcome:
    return strategy_spec(name).run(ctx, budget)


def simulate(
    data: BenchmarkData,
    *,
    strategies: Sequence[str],
    budgets: Sequence[Budget],
    holdout: float | None = None,
    replicates: int = 200,
    seed: int = 0,
    gpu: GpuCard | None = None,
    split: str = "random",
    separate: float | None = None,
) -> SimulationReport:
    if replicates < 1:
        raise InputError("--replicates must be at least 1.")
    if seed < 0:
        raise InputError(f"--seed {seed} must be 0 or more.")
    check_memory(data, replicates)
    if split != "random" and holdout is None:
        raise InputError(f"--holdout-split {split} needs --holdout-models (the share of models to hold out).")
    ctx, per_replicate = make_context(data, holdout=holdout, replicates=replicates, seed=seed, split=split)
    history_size = int(ctx.history.sum(axis=1).min())
    names = (
        applicable_strategies(data, history_size) if list(strategies) in ([], ["all"]) else list(strategies)
    )
    for name in names:
        # refuse a bad name before any work
        if strategy_spec(name).learns_from_history and history_size < MIN_HISTORY:
            raise InputError(
                f"--strategy {name} learns from history models, but each replicate keeps only {history_size}; "
                f"lower --holdout-models."
            )
    full_cost = full_costs(ctx)
    truth = data.full_scores()
    results: list[StrategyResult] = []
    not_fitting: list[str] = []
    for budget in budgets:
        units = np.array([budget_units(budget, float(c), has_cost=data.has_cost, gpu=gpu) for c in full_cost])
        for name in names:
            outcome = run_strategy(ctx, name, units)
            if strategy_spec(name).all_or_nothing and not outcome.selected.all():
                not_fitting.append(f"{name} at {budget.label()}")
                continue
            measured: Fidelity = fidelity(truth, outcome.estimates, ctx.candidates, separate=separate)
            results.append(
                StrategyResult(
                    strategy=name,
                    budget=budget.label(),
                    budget_units=float(units.mean()),
                    cost_usd=spread(outcome.cost),
                    items_per_model=ItemsPerModel(mean=float(outcome.items_per_model.mean())),
                    **measured.model_dump(),
                )
            )
    attempts = int(np.sum(~np.isnan(data.repeat_scores)))
    return SimulationReport(
        benchmark=data.benchmark,
        models=data.n_candidates,
        items=data.n_items,
        full_cost_usd=float(data.unit_costs().sum()) if data.has_cost else None,
        full_rollouts=attempts,
        cost_unit="usd" if data.has_cost else "rollouts",
        holdout_models=holdout,
        holdout_split=split,
        candidates_per_replicate=per_replicate,
        replicates=replicates,
        seed=seed,
        in_sample=holdout is None,
        results=results,
        not_fitting=not_fitting,
    )


def format_report(report: SimulationReport) -> str:
    unit = "$" if report.cost_unit == "usd" else "rollouts"
    full = (
        f"${report.full_cost_usd:,.2f}"
        if report.full_cost_usd is not None
        else f"{report.full_rollouts:,} rollouts"
    )
    header = [
        f"{report.benchmark}: {report.models} models x {report.items} items, one full pass {full}; "
        f"{report.replicates} replicates of {report.candidates_per_replicate} candidates"
        + (
            f" (holdout {report.holdout_models:g}, {report.holdout_split} split)"
            if report.holdout_models
            else " (in-sample)"
        ),
    ]
    columns = [
        Col("strategy"),
        Col("budget", True),
        Col(f"cost {unit}", True),
        Col("items/model", True),
        Col("tau mean", True),
        Col("tau p05", True),
        Col("top1", True),
        Col("top3", True),
        Col("MAE", True),
        Col("max disp", True),
        Col("DIoR", True),
    ]
    rows = [
        (
            r.strategy,
            r.budget,
            f"{r.cost_usd.mean:,.2f}" if report.cost_unit == "usd" else f"{r.cost_usd.mean:,.0f}",
            f"{r.items_per_model.mean:.1f}",
            f"{r.kendall_tau.mean:.3f}",
            f"{r.kendall_tau.p05:.3f}",
            f"{r.top1_recovery:.2f}",
            f"{r.topk_overlap:.2f}",
            f"{r.mae:.3f}",
            f"{r.max_rank_displacement:.1f}",
            f"{r.dior:.3f}",
        )
        for r in report.results
    ]
    lines = [*header, "", render_table(columns, rows)]
    if report.not_fitting:
        lines += ["", f"does not fit (needs the whole benchmark): {', '.join(report.not_fitting)}"]
    return "\n".join(lines)
