"""The planner: from a budget and a candidate list, the strategy with the best simulated fidelity that fits,
and the explicit slice to run (stages, models, items, repeats) with predicted cost and fidelity.

Fidelity is predicted by simulation on the history models only (the store's models that are not
candidates), with leave-models-out, so a candidate's own past results never flatter its plan. The items are
then chosen by the same strategy code on the real history; the candidates' rows play no part in the choice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.errors import InputError
from evalbudget.engine.sim.budget import Budget, budget_units
from evalbudget.engine.sim.data import BenchmarkData
from evalbudget.engine.sim.metrics import Spread
from evalbudget.engine.sim.simulate import StrategyResult, drawable, holdout_for, simulate, split_sizes
from evalbudget.engine.sim.strategies import (
    ADAPTIVE_AUDIT_SALT,
    MIN_STAGED_CANDIDATES,
    Context,
    Staging,
    adaptive_parameters,
    applicable_strategies,
    per_model_cost,
    random_order,
    strategy_spec,
)
from evalbudget.engine.stages import NARROW_RULES, NarrowRule, PickRule, StageRun, adaptive_shares
from evalbudget.engine.tables import Col, render_table
from evalbudget.pricing import GpuCard

PLAN_VERSION = 1
OBJECTIVES = ("ranking", "top1", "scores", "separate")
"""What a plan is best at: the whole ranking (Kendall tau), finding the winner (top-1 recovery), the scores
(MAE), or telling apart the models at least a given difference apart (``separate``, with ``difference``)."""
MIN_POOL = 4


class PlanStage(BaseModel):
    """One stage: ``models`` x ``item_ids`` x ``repeats``, run item by item (every model on an item before the
    next), whole items only, while the launch's spend stays within the stages' budgets so far (what an
    earlier stage left unspent rolls over)."""

    name: str
    models: list[Candidate]
    item_ids: list[str]
    repeats: int = Field(default=1, ge=1)
    budget_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """What this stage may spend (in the plan's cost unit); the launcher's hard cap still applies."""
    until_budget: bool = False
    """``item_ids`` is an order to run until the stage's budget is spent, not a list to finish (staged
    strategies); items an earlier stage ran are skipped."""
    rule: str | None = None
    """How the launcher narrows ``models`` from the earlier stages' results, in words."""
    narrow: NarrowRule | None = None
    """The same rule for the launcher (engine.stages, shared with the simulator): ``top3-interval``
    (coarse-to-fine: the candidates whose 95% interval reaches the top three) or ``top-half`` (successive
    halving: the better half of the previous stage's models by their mean so far). A stage with a ``rule``
    but no ``narrow`` (older plans) is top3-interval."""

    pick: PickRule | None = None
    """Stages that choose each candidate's own items (adaptive): ``information``, the items of ``item_ids``
    most informative per predicted dollar at the candidate's current ability (the plan's ``item_model``),
    each candidate spending its share of the stage's budget (engine.stages, shared with the simulator)."""

    @model_validator(mode="after")
    def _no_repeats(self) -> PlanStage:
        # a unit (model, item, repeat) is run and recorded at most once
        for name, values in (("item_ids", self.item_ids), ("models", self.models)):
            seen: set[object] = set()
            for value in values:
                if value in seen:
                    raise ValueError(f"stage {self.name!r} names {str(value)!r} twice in {name}")
                seen.add(value)
        return self

    @model_validator(mode="after")
    def _default_narrow(self) -> PlanStage:
        if self.rule is not None and self.narrow is None and self.pick is None:
            self.narrow = "top3-interval"
        return self


class ItemModel(BaseModel):
    """What an adaptive plan's launcher needs to choose items: per item, the 2PL parameters fitted on the
    plan's history (as adaptive choice uses them), whether the history identifies them, and the predicted
    cost of one run for one candidate."""

    item_ids: list[str]
    discrimination: list[float]
    difficulty: list[float]
    identified: list[bool]
    cost: list[float]

    @model_validator(mode="after")
    def _same_length(self) -> ItemModel:
        n = len(self.item_ids)
        for name in ("discrimination", "difficulty", "identified", "cost"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"item_model.{name} has {len(getattr(self, name))} entries for {n} items")
        return self

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.array(self.discrimination, dtype=np.float64),
            np.array(self.difficulty, dtype=np.float64),
            np.array(self.identified, dtype=bool),
            np.array(self.cost, dtype=np.float64),
        )


class PredictedFidelity(BaseModel):
    kendall_tau: Spread
    """Mean and 90% interval (5th-95th percentile) over the simulated replicates."""
    top1_recovery: float
    mae: float
    separated: float | None = None
    """The ``separate`` objective: the share of candidate pairs at least ``difference`` apart ordered right."""
    difference: float | None = None


class Alternative(BaseModel):
    strategy: str
    kendall_tau_mean: float
    kendall_tau_p05: float | None = None
    """The 5th percentile of the simulated tau (plans written before it was kept have none)."""
    top1_recovery: float
    mae: float
    cost_mean: float
    separated: float | None = None


class CheckpointSelection(BaseModel):
    """A checkpoint plan's choice (``checkpoints plan``): of the run's planned checkpoints, which are evaluated
    and on what share of the items, and how well the others are predicted, from the store's other series."""

    series: str
    steps: list[int]
    """Every checkpoint the run has (or will have)."""
    chosen_steps: list[int]
    items_fraction: float = Field(gt=0, le=1)
    items_per_checkpoint: int = Field(ge=0)
    history_series: list[str]
    share: float = Field(ge=0, le=1)
    """Of the run's full evaluation (every checkpoint, every item)."""
    gpu_hours: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    gpu_type: str | None = None
    curve_mae_mean: float = Field(ge=0, allow_inf_nan=False)
    """Predicted curve error: leave-one-series-out on the history with the same strategy and share."""
    curve_mae_p95: float = Field(ge=0, allow_inf_nan=False)
    final_score_error: float = Field(ge=0, allow_inf_nan=False)


class Plan(BaseModel):
    """A budgeted evaluation slice, readable and editable as JSON. Only ``benchmark``, ``budget_units`` and
    ``stages`` are needed to write one by hand; the planner fills in the rest."""

    version: int = PLAN_VERSION
    benchmark: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    objective: str = "ranking"
    strategy: str = "manual"
    budget: str = ""
    budget_units: float = Field(ge=0, allow_inf_nan=False)
    cost_unit: Literal["usd", "rollouts"] = "usd"
    """``usd``, or ``rollouts`` where the benchmark has no cost data."""
    candidates: list[Candidate] = Field(default_factory=list)
    history_models: list[Candidate] = Field(default_factory=list)
    stages: list[PlanStage]
    item_weights: dict[str, float] = Field(default_factory=dict)
    """Per-item weights of the estimate (anchor points); empty means equal weights."""
    item_model: ItemModel | None = None
    """Adaptive plans: the item parameters their ``pick`` stages choose by."""
    predicted_cost: Spread | None = None
    """In the plan's cost unit: what the stages are expected to spend."""
    cost_notes: list[str] = Field(default_factory=list)
    """How a new candidate's cost was predicted where it was not from token counts (a stated fallback)."""
    cost_basis: Literal["simulated", "worst-case"] = "simulated"
    """``simulated`` from past spend, or ``worst-case`` (no history: prompt bound + max_tokens at list price)."""
    predicted_fidelity: PredictedFidelity | None = None
    simulation: dict[str, float | int | bool | str | None] = Field(default_factory=dict)
    alternatives: list[Alternative] = Field(default_factory=list)
    checkpoints: CheckpointSelection | None = None
    """Checkpoint plans: the checkpoints chosen of the run's, and the curve error predicted for the rest."""
    seed: int = 0

    @model_validator(mode="after")
    def _fill(self) -> Plan:
        if not self.stages:
            raise ValueError("a plan needs at least one stage")
        names = [stage.name for stage in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("two stages share a name")
        picking = next((stage.name for stage in self.stages if stage.pick is not None), None)
        if picking is not None and self.item_model is None:
            raise ValueError(f"stage {picking!r} chooses items by the plan's item_model, which it lacks")
        if not any(stage.until_budget for stage in self.stages):
            # fixed lists: the same (model, item) in two stages would be run twice
            seen: dict[tuple[object, str], str] = {}
            for stage in self.stages:
                for model in stage.models:
                    for item in stage.item_ids:
                        if (model, item) in seen and seen[(model, item)] != stage.name:
                            raise ValueError(
                                f"stages {seen[(model, item)]!r} and {stage.name!r} both run {item!r} for {model}"
                            )
                        seen[(model, item)] = stage.name
        if not self.candidates:
            self.candidates = list(dict.fromkeys(m for stage in self.stages for m in stage.models))
        if not self.budget:
            self.budget = (
                f"${self.budget_units:g}" if self.cost_unit == "usd" else f"{self.budget_units:g} rollouts"
            )
        return self


PLAN_RUNS = "SELECT run_id FROM runs WHERE plan_id = $plan AND (harness = 'launch:replay') = $replay"
"""The runs of one plan that share its cap and its recorded units: a replay (a dry run on past data) counts
only with other replays, and a real launch only with real ones."""


def plan_id(plan: Plan) -> str:
    """What makes two plan files the same plan, whose runs share one cap: what it runs and its budget (not
    when it was written, nor its predictions)."""
    what = plan.model_dump(
        mode="json", include={"benchmark", "strategy", "budget_units", "cost_unit", "stages", "seed"}
    )
    return "plan-" + hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _objective_key(
    objective: str, tau_mean: float, top1: float, mae: float, separated: float | None = None
) -> tuple[float, float]:
    """What "best" means for ``objective``: the larger key wins; a NaN fidelity ranks last."""
    tau = tau_mean if np.isfinite(tau_mean) else -np.inf
    if objective == "top1":
        return (top1, tau)
    if objective == "scores":
        return (-mae if np.isfinite(mae) else -np.inf, tau)
    if objective == "separate":
        return (separated if separated is not None and np.isfinite(separated) else -np.inf, tau)
    return (tau, top1)


def rank_strategies(results: Sequence[StrategyResult], objective: str = "ranking") -> list[StrategyResult]:
    """Simulated strategies from the best for ``objective`` down: the first is the one to recommend."""
    return sorted(
        results,
        key=lambda r: _objective_key(objective, r.kendall_tau.mean, r.top1_recovery, r.mae, r.separated),
        reverse=True,
    )


def subset(data: BenchmarkData, rows: Sequence[int]) -> BenchmarkData:
    index = np.asarray(rows, dtype=np.int64)
    return replace(
        data,
        candidates=[data.candidates[i] for i in index],
        scores=data.scores[index],
        costs=data.costs[index],
        repeat_scores=data.repeat_scores[index],
        released=None if data.released is None else data.released[index],
    )


def with_candidates(
    data: BenchmarkData, candidates: Sequence[Candidate], predicted_costs: np.ndarray
) -> BenchmarkData:
    """``data`` plus rows for candidates it lacks: unknown scores, the given predicted cost per item."""
    missing = [c for c in candidates if c not in data.candidates]
    if not missing:
        return data
    rows = len(missing)
    lookup = {c: i for i, c in enumerate(candidates)}
    extra_costs = np.vstack([predicted_costs[lookup[c]] for c in missing])
    return replace(
        data,
        candidates=[*data.candidates, *missing],
        scores=np.vstack([data.scores, np.full((rows, data.n_items), np.nan)]),
        costs=np.vstack([data.costs, extra_costs]),
        repeat_scores=np.concatenate(
            [data.repeat_scores, np.full((rows, data.n_items, data.repeat_scores.shape[2]), np.nan)]
        ),
        # a new model's date is not known to the store: it is never drawn by the newest split
        released=None if data.released is None else np.concatenate([data.released, np.full(rows, np.nan)]),
    )


def make_plan(
    data: BenchmarkData,
    candidates: Sequence[Candidate],
    budget: Budget,
    *,
    objective: str = "ranking",
    predicted_costs: np.ndarray | None = None,
    replicates: int = 200,
    seed: int = 0,
    gpu: GpuCard | None = None,
    strategies: Sequence[str] | None = None,
    split: str = "random",
    difference: float | None = None,
) -> Plan:
    """Plan for ``candidates`` (store models, or new ones with ``predicted_costs`` rows per item), choosing
    among ``strategies`` (default: every one that applies). ``split`` is how fidelity is simulated: the
    held-out models drawn at random, the strongest (for candidates stronger than the history), or the newest.
    The ``separate`` objective needs the ``difference`` (in score, e.g. 0.02) the models must be told apart at."""
    if objective not in OBJECTIVES:
        raise InputError(f"--objective {objective!r} is not one of {', '.join(OBJECTIVES)}.")
    if objective == "separate" and (difference is None or not 0 < difference < 1):
        raise InputError(
            "--objective separate needs --difference D, the score difference to tell apart (between 0 and 1, e.g. 0.02)."
        )
    if objective != "separate" and difference is not None:
        raise InputError("--difference is for --objective separate (tell apart models that far apart).")
    if len(candidates) < 1:
        raise InputError("A plan needs at least one candidate (--candidates or --all).")
    unknown = [c for c in candidates if c not in data.candidates]
    if unknown and predicted_costs is None:
        raise InputError(
            f"Candidate '{unknown[0]}' has no results on {data.benchmark} and no predicted cost."
        )
    others = [i for i, c in enumerate(data.candidates) if c not in set(candidates)]
    # Fidelity is simulated with leave-models-out on the models that are not candidates; when there are too
    # few of those (re-planning models the store already holds), on every model, and the plan's history is
    # then every model's past results, the candidates' included.
    history_includes_candidates = len(others) < MIN_POOL
    pool_rows = list(range(data.n_candidates)) if history_includes_candidates else others
    pool = subset(data, pool_rows)
    wanted = min(len(candidates), pool.n_candidates // 2)
    holdout = (
        holdout_for(drawable(pool, split), max(2, wanted), split) if pool.n_candidates >= MIN_POOL else None
    )
    # the budget as a share of the candidates' full cost, so simulation on the pool is like for like
    augmented = with_candidates(
        data, candidates, predicted_costs if predicted_costs is not None else np.empty((0, data.n_items))
    )
    index = {c: i for i, c in enumerate(augmented.candidates)}
    candidate_rows = np.array([index[c] for c in candidates])
    unit_costs = augmented.unit_costs()
    full_cost = float(unit_costs[candidate_rows].sum())
    units = budget_units(budget, full_cost, has_cost=data.has_cost, gpu=gpu)
    cheapest = float(unit_costs[candidate_rows].sum(axis=0).min())
    if units < cheapest * (1 - 1e-9):
        price = f"${cheapest:.2g}" if data.has_cost else f"{cheapest:g} rollouts"
        raise InputError(
            f"Budget {budget.text!r} buys no item of {data.benchmark}: the cheapest costs {price} for "
            f"{'this candidate' if len(candidates) == 1 else f'these {len(candidates)} candidates'}."
        )
    share = min(1.0, units / full_cost) if full_cost > 0 else 1.0
    history_size = split_sizes(drawable(pool, split), holdout, split)[1] if holdout else 0
    names = applicable_strategies(pool, history_size)
    if strategies:
        for name in strategies:
            strategy_spec(name)  # an unknown name is refused by name
        names = [n for n in names if n in strategies] or list(strategies)
    real_history = list(range(data.n_candidates)) if history_includes_candidates else others
    if len(real_history) < 3 or holdout is None:
        names = [n for n in names if not strategy_spec(n).learns_from_history]
    if len(candidates) < MIN_STAGED_CANDIDATES:
        names = [n for n in names if strategy_spec(n).staging is None]
    if not names:
        raise InputError(
            f"None of the strategies {', '.join(strategies or [])} can plan {len(candidates)} candidates on "
            f"{data.benchmark} (staged ones need {MIN_STAGED_CANDIDATES}, learning ones three history models)."
        )
    report = simulate(
        pool,
        strategies=names,
        budgets=[Budget("percent", share * 100, f"{share * 100:g}%")],
        holdout=holdout,
        replicates=replicates,
        seed=seed,
        split=split if holdout is not None else "random",
        separate=difference,
    )
    ranked = rank_strategies(report.results, objective)
    chosen = next((r for r in ranked if np.isfinite(r.kendall_tau.mean)), ranked[0])
    alternatives = [
        Alternative(
            strategy=r.strategy,
            kendall_tau_mean=r.kendall_tau.mean,
            kendall_tau_p05=r.kendall_tau.p05,
            top1_recovery=r.top1_recovery,
            mae=r.mae,
            # the simulation spends on the pool's candidates; scaled to this plan's budget
            cost_mean=r.cost_usd.mean / max(r.budget_units, 1e-12) * units,
            separated=r.separated,
        )
        for r in ranked
    ]
    stages, weights, predicted, item_model = _slice(
        augmented, candidate_rows, real_history, chosen.strategy, units, seed
    )
    # the simulation's spend relative to its budget, applied to this budget: an interval for the plan's spend
    ratio = np.array([chosen.cost_usd.p05, chosen.cost_usd.mean, chosen.cost_usd.p95]) / max(
        chosen.budget_units, 1e-12
    )
    predicted_cost = Spread(
        mean=min(predicted, units),
        p05=min(float(ratio[0] * units), predicted),
        p95=min(float(ratio[2] * units), units),
    )
    return Plan(
        benchmark=data.benchmark,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        objective=objective,
        strategy=chosen.strategy,
        budget=budget.label(),
        budget_units=units,
        cost_unit="usd" if data.has_cost else "rollouts",
        candidates=list(candidates),
        history_models=[augmented.candidates[i] for i in real_history],
        stages=stages,
        item_weights=weights,
        item_model=item_model,
        predicted_cost=predicted_cost,
        predicted_fidelity=PredictedFidelity(
            kendall_tau=chosen.kendall_tau,
            top1_recovery=chosen.top1_recovery,
            mae=chosen.mae,
            separated=chosen.separated,
            difference=difference,
        ),
        simulation={
            "replicates": replicates,
            "holdout_models": holdout,
            "holdout_split": split if holdout is not None else None,
            "pool_models": pool.n_candidates,
            "candidates_per_replicate": report.candidates_per_replicate,
            "history_includes_candidates": history_includes_candidates,
        },
        alternatives=alternatives,
        seed=seed,
    )


def plan_context(
    data: BenchmarkData, candidate_rows: np.ndarray, history_rows: Sequence[int], seed: int
) -> Context:
    """One replicate whose candidates and history are the plan's."""
    candidates = np.zeros((1, data.n_candidates), dtype=bool)
    candidates[0, candidate_rows] = True
    history = np.zeros_like(candidates)
    history[0, list(history_rows)] = True
    if not history.any():
        history = candidates.copy()
    return Context(
        data=data,
        candidates=candidates,
        history=history,
        unit_costs=data.unit_costs(),
        observed=data.scores,
        seed=seed,
    )


def _slice(
    data: BenchmarkData,
    candidate_rows: np.ndarray,
    history_rows: Sequence[int],
    strategy: str,
    units: float,
    seed: int,
) -> tuple[list[PlanStage], dict[str, float], float, ItemModel | None]:
    """The stages to run, the items' weights, their predicted cost, and adaptive plans' item model."""
    ctx = plan_context(data, candidate_rows, history_rows, seed)
    budget = np.array([units])
    models = [data.candidates[i] for i in candidate_rows]
    spec = strategy_spec(strategy)
    if spec.staging is not None:
        return _staged_stages(data, ctx, spec.staging, models, units), {}, units, None
    if strategy == "adaptive":
        stages, item_model = _adaptive_stages(data, ctx, models, units)
        return stages, {}, units, item_model
    outcome = spec.run(ctx, budget)
    selected = outcome.selected[0]
    repeats = int(strategy.split(":", 1)[1]) if strategy.startswith("repeats:") else 1
    ids = [data.items[j] for j in np.flatnonzero(selected)]
    weights: dict[str, float] = {}
    if outcome.weights is not None:  # anchor points: each weighs as many items as its cluster holds
        weights = {data.items[j]: float(outcome.weights[0, j]) for j in np.flatnonzero(selected)}
    return (
        [PlanStage(name="main", models=models, item_ids=ids, repeats=repeats, budget_usd=units)],
        weights,
        float(outcome.cost[0]),
        None,
    )


def _staged_stages(
    data: BenchmarkData, ctx: Context, staging: Staging, models: list[Candidate], units: float
) -> list[PlanStage]:
    """A staged strategy's stages: each holds the strategy's whole random order, to run until its share of
    the budget is spent (skipping what earlier stages ran), narrowed from the second stage on by the rule
    the simulator applies (engine.stages)."""
    order = [data.items[j] for j in random_order(ctx, salt=staging.salt)[0]]
    shares = staging.shares(len(models))
    stages = []
    for k, (name, share) in enumerate(zip(staging.names(len(models)), shares, strict=True)):
        stages.append(
            PlanStage(
                name=name,
                models=models,
                item_ids=order,
                budget_usd=(share - (shares[k - 1] if k else 0.0)) * units,
                until_budget=True,
                rule=None if k == 0 else f"run only {NARROW_RULES[staging.rule]}",
                narrow=None if k == 0 else staging.rule,
            )
        )
    return stages


ADAPTIVE_RULE = "each model runs its own items, the most informative per dollar at its ability so far"


def _adaptive_stages(
    data: BenchmarkData, ctx: Context, models: list[Candidate], units: float
) -> tuple[list[PlanStage], ItemModel]:
    """Adaptive testing's stages: the audit (a random order for every model, until its share of the budget
    is spent), then stages that choose each model's items by the item model (engine.stages)."""
    audit = [data.items[j] for j in random_order(ctx, salt=ADAPTIVE_AUDIT_SALT)[0]]
    a, b, identified = adaptive_parameters(ctx)
    item_model = ItemModel(
        item_ids=list(data.items),
        discrimination=a[0].tolist(),
        difficulty=b[0].tolist(),
        identified=identified[0].tolist(),
        cost=per_model_cost(ctx)[0].tolist(),
    )
    shares = adaptive_shares()
    pick: PickRule = "information"
    stages = [
        PlanStage(
            name="audit" if k == 0 else f"adaptive {k}",
            models=models,
            item_ids=audit if k == 0 else list(data.items),
            budget_usd=(share - (shares[k - 1] if k else 0.0)) * units,
            until_budget=True,
            rule=None if k == 0 else ADAPTIVE_RULE,
            pick=None if k == 0 else pick,
        )
        for k, share in enumerate(shares)
    ]
    return stages, item_model


def _amount(value: float) -> str:
    """Money or rollouts to read: cents from a dollar up, four significant digits below."""
    return f"{value:,.2f}" if value == 0 or abs(value) >= 1 else f"{value:.4g}"


def _checkpoint_lines(chosen: CheckpointSelection) -> list[str]:
    hours = (
        f", {chosen.gpu_hours:,.3g} {chosen.gpu_type} GPU-hours"
        if chosen.gpu_hours is not None
        else ", GPU-hours unknown"
    )
    lines = [
        f"series     {chosen.series}: {len(chosen.chosen_steps)} of {len(chosen.steps)} checkpoints on "
        f"{chosen.items_fraction:.0%} of the items ({chosen.items_per_checkpoint:,} each): {chosen.share:.1%} of "
        f"its full evaluation{hours}",
        f"steps      {', '.join(f'{s:,}' for s in chosen.chosen_steps)}",
        f"curve      predicted within MAE {chosen.curve_mae_mean:.4f} (p95 {chosen.curve_mae_p95:.4f}), final "
        f"score within {chosen.final_score_error:.4f}: leave-one-series-out on {len(chosen.history_series)} "
        "other series at the same share",
    ]
    return lines


def format_plan(plan: Plan) -> str:
    unit = "$" if plan.cost_unit == "usd" else "rollouts "
    lines = [
        f"plan for {plan.benchmark}: {len(plan.candidates)} candidate{'s' if len(plan.candidates) != 1 else ''}, "
        f"budget {plan.budget} ({unit}{_amount(plan.budget_units)}), objective {plan.objective}",
        f"strategy   {plan.strategy}",
    ]
    if plan.predicted_cost is not None and plan.cost_basis == "worst-case":
        lines.append(
            f"cost       at most {unit}{_amount(plan.predicted_cost.p95)} (worst case: each prompt's token bound plus "
            "its max_tokens at list price; the launcher holds the cap)"
        )
    elif plan.predicted_cost is not None:
        cost = plan.predicted_cost
        lines.append(
            f"cost       {unit}{_amount(cost.mean)} predicted (90%: {unit}{_amount(cost.p05)} - {unit}{_amount(cost.p95)})"
        )
    lines.extend(f"           {note}" for note in plan.cost_notes)
    if plan.predicted_fidelity is not None:
        tau = plan.predicted_fidelity.kendall_tau
        lines.append(
            f"fidelity   Kendall tau {tau.mean:.3f} (90%: {tau.p05:.3f} - {tau.p95:.3f}), top-1 recovery "
            f"{plan.predicted_fidelity.top1_recovery:.2f}, score MAE {plan.predicted_fidelity.mae:.3f}"
        )
        separated, difference = plan.predicted_fidelity.separated, plan.predicted_fidelity.difference
        if separated is not None and difference is not None:
            lines.append(
                f"           pairs at least {difference:g} apart ordered right: {separated:.1%}"
                if np.isfinite(separated)
                else f"           no two candidates were {difference:g} apart in the simulation"
            )
    split = plan.simulation.get("holdout_split")
    if plan.predicted_fidelity is not None and split in ("strongest", "newest"):
        lines.append(f"           simulated with the {split} models held out, as the candidates would be")
    simulated = plan.simulation.get("candidates_per_replicate")
    if (
        plan.predicted_fidelity is not None
        and isinstance(simulated, int)
        and simulated < len(plan.candidates)
    ):
        lines.append(
            f"           simulated with {simulated} candidates per replicate (the history holds "
            f"{plan.simulation.get('pool_models')} models), not the plan's {len(plan.candidates)}: the interval is "
            "for a smaller ranking"
        )
    if plan.checkpoints is not None:
        lines.extend(_checkpoint_lines(plan.checkpoints))
    elif plan.predicted_fidelity is None and not plan.history_models:
        lines.append(f"fidelity   unknown: the store holds no results on {plan.benchmark} to simulate from")
    for stage in plan.stages:
        items = (
            f"its own of {len(stage.item_ids)} items until {unit}{_amount(stage.budget_usd or 0)} is spent"
            if stage.pick is not None
            else f"the next of {len(stage.item_ids)} items in order until {unit}{_amount(stage.budget_usd or 0)} is spent"
            if stage.until_budget
            else f"{len(stage.item_ids)} items"
            + (
                f" (the store holds none of {plan.benchmark}'s items: ingest them to launch this plan)"
                if not stage.item_ids and plan.checkpoints is not None
                else ""
            )
        )
        lines.append(
            f"stage {stage.name}: {len(stage.models)} models x {items} x {stage.repeats} repeat(s)"
            + (f"; {stage.rule}" if stage.rule else "")
        )
    if plan.alternatives:
        apart = any(a.separated is not None for a in plan.alternatives)
        columns = [
            Col("strategy"),
            Col("tau mean", True),
            Col("top1", True),
            Col("MAE", True),
            *([Col("apart", True)] if apart else []),
            Col("cost", True),
        ]
        rows = [
            (
                a.strategy,
                f"{a.kendall_tau_mean:.3f}",
                f"{a.top1_recovery:.2f}",
                f"{a.mae:.3f}",
                *([f"{a.separated:.3f}" if a.separated is not None else ""] if apart else []),
                f"{a.cost_mean:,.2f}",
            )
            for a in plan.alternatives
        ]
        lines += ["", render_table(columns, rows)]
    return "\n".join(lines)


@dataclass(frozen=True)
class PlanReplay:
    """A plan run on the store's past results by the simulator."""

    estimates: np.ndarray
    """The candidates' estimated full-benchmark scores, in ``plan.candidates`` order."""
    item_ids: list[str]
    """Every item the strategy ran for at least one candidate."""
    stages: list[StageRun]


def _picked(plan: Plan, stage: PlanStage, number: int, picks: np.ndarray, data: BenchmarkData) -> StageRun:
    """What stage ``number`` (1 = the first) of an adaptive plan ran, from the simulator's ``picks`` (C, N)."""
    position = {item: j for j, item in enumerate(stage.item_ids)}
    chosen = {
        model: sorted(
            (data.items[j] for j in np.flatnonzero(row == number)), key=lambda i: position.get(i, 0)
        )
        for model, row in zip(plan.candidates, picks, strict=True)
    }
    union = sorted({i for items in chosen.values() for i in items}, key=lambda i: position.get(i, 0))
    return StageRun(stage.name, list(plan.candidates), union, None if stage.pick is None else chosen)


def replay(plan: Plan, data: BenchmarkData) -> PlanReplay:
    """Run ``plan`` on results the store already holds for its candidates (a dry run on past data): the
    candidates' estimated scores, the items the strategy ran, and what each stage ran. The items are chosen
    exactly as at planning time, because the choice never looks at the candidates' results; a staged
    strategy's later stages are narrowed from the candidates' results as the launcher would."""
    missing = [c for c in plan.candidates if c not in data.candidates]
    if missing:
        raise InputError(
            f"The store holds no results of candidate '{missing[0]}' on {data.benchmark} to replay."
        )
    index = {c: i for i, c in enumerate(data.candidates)}
    candidate_rows = np.array([index[c] for c in plan.candidates])
    history_rows = [index[c] for c in plan.history_models if c in index]
    ctx = plan_context(data, candidate_rows, history_rows, plan.seed)
    outcome = strategy_spec(plan.strategy).run(ctx, np.array([plan.budget_units]))
    items = [data.items[j] for j in np.flatnonzero(outcome.selected[0])]
    if outcome.picks is not None:
        stages = [
            _picked(plan, stage, k, outcome.picks[0, candidate_rows], data)
            for k, stage in enumerate(plan.stages, 1)
        ]
    elif outcome.stages is not None:
        stages = [
            StageRun(stage.name, [data.candidates[i] for i in models], [data.items[j] for j in chosen])
            for stage, (models, chosen) in zip(plan.stages, outcome.stages[0], strict=True)
        ]
    else:
        stages = [StageRun(plan.stages[0].name, list(plan.candidates), items)]
    return PlanReplay(estimates=outcome.estimates[0, candidate_rows], item_ids=items, stages=stages)
