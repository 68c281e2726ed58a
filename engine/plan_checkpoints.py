"""`checkpoints plan`: which checkpoints of a training run, and how many of a task's items, to evaluate under a
budget, with the curve error band the store's other series predict for that choice.

The plan is an ordinary plan file (one stage: the chosen checkpoints as models, the chosen items), so
`evalbudget launch` runs it: with the vLLM backend each checkpoint is a model started from its weights
(``--model-map 'NAME@step1000=/path/or/hub-id@revision'``), with the replay backend from the store. What was
chosen, and the predicted error of the rest of the curve, are kept in the plan's ``checkpoints`` section.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import duckdb
import numpy as np

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.checkpoints import (
    UTILISATION,
    Curve,
    SeriesData,
    budget_share,
    checkpoint_gpu_hours,
    load_series,
    params_from_name,
)
from evalbudget.engine.errors import InputError
from evalbudget.engine.plan import CheckpointSelection, Plan, PlanStage
from evalbudget.engine.sim.budget import Budget
from evalbudget.engine.sim.checkpoints import (
    choose_checkpoints,
    dry_run_error,
    predict_curve,
    simulate_checkpoints,
)
from evalbudget.engine.sim.metrics import Spread
from evalbudget.pricing import GpuCard

MAX_STEPS = 10_000
"""More planned checkpoints than this is a typo (``--every 1`` over a long run)."""


@dataclass(frozen=True)
class CheckpointRequest:
    series: str
    benchmark: str
    budget: Budget
    card: GpuCard
    steps: list[int] | None = None
    """The run's checkpoints; None: the series' checkpoints in the store."""
    final_step: int | None = None
    scaffold: str = ""
    strategy: str = "history"
    params: float | None = None
    tokens_per_item: int | None = None
    utilisation: float = UTILISATION
    seed: int = 0
    share: float | None = None
    """The share of the run's full evaluation to spend, where it is set for several tasks at once
    (``plan_tasks``); None: the budget's."""
    tasks: int = 1
    """How many tasks the budget is shared over (named in the plan's budget)."""


def planned_steps(steps: str | None, every: int | None, final_step: int | None) -> list[int] | None:
    """``--steps 0,1000,2000`` or ``--every 1000 --final-step 143000`` (0 and the final step included)."""
    if steps is not None and every is not None:
        raise InputError("Give --steps or --every, not both.")
    if steps is not None:
        try:
            chosen = sorted({int(s) for s in steps.split(",") if s.strip()})
        except ValueError:
            raise InputError(f"--steps {steps!r} is not a comma-separated list of whole steps.") from None
        if not chosen or chosen[0] < 0:
            raise InputError(f"--steps {steps!r} must list steps of 0 or more.")
    elif every is not None:
        if every < 1:
            raise InputError(f"--every {every} must be at least 1.")
        if final_step is None:
            raise InputError("--every needs --final-step (the run's last step).")
        chosen = sorted({*range(0, final_step + 1, every), final_step})
    else:
        return None
    if len(chosen) > MAX_STEPS:
        raise InputError(f"{len(chosen):,} checkpoints planned; at most {MAX_STEPS:,}.")
    if len(chosen) < 2:
        raise InputError("A run needs at least two checkpoints to plan a curve.")
    return chosen


@dataclass(frozen=True)
class CheckpointView:
    """What the app's Checkpoints mode draws: every series' curve, the plan, and, for a run the store holds
    (a dry run on past data), the curve the plan predicts from its chosen checkpoints."""

    data: SeriesData
    plan: Plan
    predicted: np.ndarray | None
    """On the run's steps, from its recorded scores on every item; None for a run new to the store."""
    dry_run_mae: float | None = None
    """The plan's curve MAE on the run's own recorded curve, its share of items drawn as a launch would run
    them; None for a run new to the store."""


def plan_checkpoints(conn: duckdb.DuckDBPyConnection, request: CheckpointRequest) -> Plan:
    return checkpoint_view(conn, request).plan


def _run_and_history(
    conn: duckdb.DuckDBPyConnection, request: CheckpointRequest
) -> tuple[SeriesData, Curve | None, list[Curve]]:
    """The task's curves, the run's own where the store holds it, and the other series (its history)."""
    data = load_series(conn, request.benchmark, scaffold=request.scaffold)
    stored = next((c for c in data.curves if c.series == request.series), None)
    history = [c for c in data.curves if c.series != request.series]
    if len(history) < 2:
        raise InputError(
            f"Benchmark {request.benchmark!r} has results of {len(history)} other series; a plan needs two as "
            "its history."
        )
    return data, stored, history


def checkpoint_view(conn: duckdb.DuckDBPyConnection, request: CheckpointRequest) -> CheckpointView:
    data, stored, history = _run_and_history(conn, request)
    curve = _new_run(request, stored, history)
    full = _full_gpu_hours(request, curve)
    share = request.share if request.share is not None else budget_share(request.budget, full, request.card)
    choice = choose_checkpoints(curve, history, request.strategy, share, seed=request.seed)
    band = simulate_checkpoints(
        SeriesData(data.benchmark, data.scaffold, history),
        strategies=[request.strategy],
        budgets=[request.budget.label()],
        shares={request.budget.label(): [share] * len(history)},
        seed=request.seed,
    ).results[0]
    size = int(np.max(curve.items))
    items = _items(
        conn, request.benchmark, round(choice.fraction * size) if choice.fraction < 1 else None, request.seed
    )
    chosen = [int(curve.steps[i]) for i in choice.picks]
    models = [Candidate(model=f"{request.series}@step{step}", scaffold=request.scaffold) for step in chosen]
    per_checkpoint = len(items) if items else round(choice.fraction * size)
    runs = len(chosen) * per_checkpoint
    spent = None if full is None else full * len(chosen) / len(curve) * choice.fraction
    rate = request.card.usd_per_hour
    cost = None if spent is None else spent * rate
    cap = None if full is None else full * share * rate  # the budget in dollars: the launch's cap
    plan = Plan(
        benchmark=request.benchmark,
        objective="curve",
        strategy=f"checkpoints:{request.strategy}",
        budget=request.budget.label() + (f" over {request.tasks} tasks" if request.tasks > 1 else ""),
        budget_units=cap if cap is not None else float(runs),
        cost_unit="usd" if cap is not None else "rollouts",
        predicted_cost=None if cost is None else Spread(mean=cost, p05=cost, p95=cost),
        candidates=models,
        history_models=[Candidate(model=m) for c in history for m in c.models],
        stages=[PlanStage(name="checkpoints", models=models, item_ids=items)],
        seed=request.seed,
        checkpoints=CheckpointSelection(
            series=request.series,
            steps=[int(s) for s in curve.steps],
            chosen_steps=chosen,
            items_fraction=choice.fraction,
            items_per_checkpoint=per_checkpoint,
            history_series=[c.series for c in history],
            share=min(1.0, len(chosen) / len(curve) * choice.fraction),
            gpu_hours=spent,
            gpu_type=request.card.gpu_type,
            curve_mae_mean=band.curve_mae_mean,
            curve_mae_p95=band.curve_mae_p95,
            final_score_error=band.final_score_error,
        ),
    )
    if stored is None:
        return CheckpointView(data, plan, None)
    return CheckpointView(
        data,
        plan,
        predict_curve(request.strategy, stored, history, choice),
        dry_run_error(request.strategy, stored, history, choice, seed=request.seed),
    )


def _new_run(request: CheckpointRequest, stored: Curve | None, history: list[Curve]) -> Curve:
    """The run being planned: its planned steps (or the stored series' own), in progress on its final step."""
    if request.steps is None:
        if stored is None:
            raise InputError(
                f"Series {request.series!r} has no checkpoints in the store: give its planned checkpoints with "
                "--steps or --every."
            )
        return stored
    steps = np.array(request.steps, dtype=np.int64)
    final = request.final_step or int(steps[-1])
    if final < steps[-1]:
        raise InputError(f"--final-step {final} is before the last planned step {steps[-1]}.")
    size = int(np.median([np.max(c.items) for c in history]))
    return Curve(
        series=request.series,
        models=tuple(f"{request.series}@step{s}" for s in steps),
        steps=steps,
        progress=steps / final,
        scores=np.zeros(len(steps)),
        items=np.full(len(steps), size, dtype=np.int64),
        params=request.params or params_from_name(request.series),
    )


def _full_gpu_hours(request: CheckpointRequest, curve: Curve) -> float | None:
    """GPU-hours to evaluate every planned checkpoint on every item; None where the run's size is unknown."""
    if request.params is None and curve.params is None:
        if request.budget.kind != "percent":
            raise InputError(
                f"Series {request.series!r} names no parameter count (such as 160m or 1.4b): give it with "
                "--params to plan in GPU-hours or dollars."
            )
        return None
    hours = checkpoint_gpu_hours(
        curve,
        request.benchmark,
        request.scaffold,
        request.card,
        params=request.params,
        tokens=request.tokens_per_item,
        utilisation=request.utilisation,
    )
    return hours * len(curve)


def _items(conn: duckdb.DuckDBPyConnection, benchmark: str, count: int | None, seed: int) -> list[str]:
    """The items to run: every item the store knows of the benchmark, or a seeded random ``count`` of them;
    none where the store has no items (aggregate results only: the plan then says how many to run)."""
    known = [
        r[0]
        for r in conn.execute(
            "SELECT item_id FROM items WHERE benchmark = ? ORDER BY item_id", [benchmark]
        ).fetchall()
    ]
    if count is None or count >= len(known):
        return known
    return sorted(random.Random(seed).sample(known, max(1, count)))


def plan_tasks(
    conn: duckdb.DuckDBPyConnection, request: CheckpointRequest, benchmarks: list[str]
) -> list[Plan]:
    """One plan per task for one run, sharing one budget: every task gets the same share of its full
    evaluation, so that together they spend the budget (a budget in GPU-hours or dollars is set against the
    sum of the tasks' full costs). Each plan's cap is its own part."""
    if len(set(benchmarks)) != len(benchmarks):
        raise InputError("A task is named twice.")
    if len(benchmarks) == 1 or request.budget.kind == "percent":
        return [
            plan_checkpoints(conn, replace(request, benchmark=b, tasks=len(benchmarks))) for b in benchmarks
        ]
    full = 0.0
    for benchmark in benchmarks:
        task = replace(request, benchmark=benchmark)
        _, stored, history = _run_and_history(conn, task)
        hours = _full_gpu_hours(task, _new_run(task, stored, history))
        assert hours is not None  # a budget in GPU-hours or dollars needs the run's size, or was refused
        full += hours
    share = budget_share(request.budget, full, request.card)
    return [
        plan_checkpoints(conn, replace(request, benchmark=b, share=share, tasks=len(benchmarks)))
        for b in benchmarks
    ]
