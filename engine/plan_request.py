"""One way to plan a benchmark, for the CLI and the app alike: a simulated plan where the store holds results
to simulate from, else (items but no results yet) a cold plan at the launcher's worst-case cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from evalbudget.engine.candidates import Candidate, resolve
from evalbudget.engine.plan import Plan, make_plan
from evalbudget.engine.plan_cold import cold_plan, has_items
from evalbudget.engine.plan_costs import candidate_costs
from evalbudget.engine.prices import gpu_card
from evalbudget.engine.sim.budget import Budget
from evalbudget.engine.sim.data import BenchmarkData, benchmarks_with_rollouts, load_benchmark
from evalbudget.pricing import PriceBook


@dataclass(frozen=True)
class PlanRequest:
    benchmark: str
    budget: Budget
    candidates: list[str] | None = None
    """The candidates as the user typed them (a model, or MODEL@SCAFFOLD where the store holds the model under
    that scaffold); None for every candidate the store holds on the benchmark."""
    objective: str = "ranking"
    difference: float | None = None
    """The ``separate`` objective: the score difference the plan must tell models apart at."""
    strategies: Sequence[str] = field(default_factory=list)
    """Choose only among these (default: every strategy that applies)."""
    gpu_type: str | None = None
    cost_like: str | None = None
    """A model the store holds on the benchmark: new candidates cost each item like it, scaled by their price
    ratio, where the benchmark has no token counts to price them from."""
    split: str = "auto"
    """How fidelity is simulated (``SPLITS``), or ``auto``: ``split_for`` the candidates."""
    replicates: int = 200
    seed: int = 0


def split_for(data: BenchmarkData, candidates: Sequence[Candidate]) -> str:
    """The split a plan's situation resembles: candidates the store holds are like any of its models (random);
    a model new to the store is usually a new frontier model (Zhang, Dorner and Hardt, 2025), so its plan is
    simulated with the strongest held out. (Not the newest: on SWE-bench Verified, candidates held out as the
    newest were covered by the strongest split's interval in 11 of 20 plans, by the newest split's in 6.)"""
    return "random" if all(c in data.candidates for c in candidates) else "strongest"


def plan_benchmark(
    conn: duckdb.DuckDBPyConnection, request: PlanRequest, book: PriceBook, data: BenchmarkData | None = None
) -> Plan:
    """The plan for ``request``; ``data`` when the caller already loaded the benchmark."""
    gpu = gpu_card(book, request.gpu_type) if request.gpu_type else None
    if data is None:
        if request.benchmark not in benchmarks_with_rollouts(conn) and has_items(conn, request.benchmark):
            # items but no results yet: nothing to simulate; full or random at worst-case cost
            return cold_plan(
                conn,
                request.benchmark,
                resolve(request.candidates or [], [], all_new=True),
                request.budget,
                book,
                seed=request.seed,
                gpu=gpu,
            )
        data = load_benchmark(conn, request.benchmark)
    where = f"the store on {data.benchmark}"
    candidates = (
        list(data.candidates)
        if request.candidates is None
        else resolve(request.candidates, data.candidates, where=where)
    )
    like = None
    if request.cost_like:
        like = resolve([request.cost_like], data.candidates, where=where, role="The model to cost like")[0]
    costs = candidate_costs(conn, data, candidates, book, like=like)
    plan = make_plan(
        data,
        candidates,
        request.budget,
        objective=request.objective,
        predicted_costs=costs.rows if costs is not None else None,
        replicates=request.replicates,
        seed=request.seed,
        gpu=gpu,
        strategies=list(request.strategies) or None,
        split=split_for(data, candidates) if request.split == "auto" else request.split,
        difference=request.difference,
    )
    if costs is not None:
        plan.cost_notes = costs.notes
    return plan
