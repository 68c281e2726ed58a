"""Plans for a benchmark the store has items for but no results yet: nothing to simulate from.

With no history there is no fidelity to predict and no strategy to learn, so the plan is ``full`` when the
budget covers every candidate on every item, else ``random`` (the same random items for every candidate,
as many as fit). Its cost is the worst case the launcher itself reserves before each request: the prompt's
token bound plus the item's max_tokens, at each candidate's list price. The real spend is lower; the plan
says so rather than guessing an average.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.defaults import DEFAULT_MAX_TOKENS
from evalbudget.engine.errors import InputError
from evalbudget.engine.items import read_items
from evalbudget.engine.plan import Plan, PlanStage
from evalbudget.engine.plan_costs import candidate_card
from evalbudget.engine.records import Item
from evalbudget.engine.sim.budget import Budget, budget_units
from evalbudget.engine.sim.metrics import Spread
from evalbudget.pricing import GpuCard, PriceBook, token_cost


def has_items(conn: duckdb.DuckDBPyConnection, benchmark: str) -> bool:
    row = conn.execute("SELECT count(*) FROM items WHERE benchmark = ?", [benchmark]).fetchone()
    return bool(row and row[0])


def worst_case_costs(
    items: Sequence[Item],
    candidates: Sequence[Candidate],
    book: PriceBook,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> np.ndarray:
    """(candidates, items) the most one run of each item can cost each candidate."""
    prompt = np.array([item.prompt_token_bound() for item in items], dtype=np.float64)
    output = np.array([item.max_tokens or default_max_tokens for item in items], dtype=np.float64)
    out = np.empty((len(candidates), len(items)))
    for i, candidate in enumerate(candidates):
        out[i] = token_cost(
            candidate_card(book, candidate, "its worst-case cost is unknown"), prompt, 0, output
        )
    return out


def cold_plan(
    conn: duckdb.DuckDBPyConnection,
    benchmark: str,
    candidates: Sequence[Candidate],
    budget: Budget,
    book: PriceBook,
    *,
    seed: int = 0,
    gpu: GpuCard | None = None,
) -> Plan:
    items = list(read_items(conn, benchmark).values())
    if not items:
        raise InputError(
            f"--benchmark {benchmark!r} has neither results nor items in the store: ingest results, or load its "
            "items with `evalbudget items load`."
        )
    if not candidates:
        raise InputError(
            f"{benchmark} has no results yet, so --all names no model: give the models with --candidates."
        )
    missing_prompt = next((item.item_id for item in items if item.input is None), None)
    if missing_prompt is not None:
        raise InputError(
            f"Item {missing_prompt!r} of {benchmark} has no prompt, so its cost cannot be bounded."
        )
    worst = worst_case_costs(items, candidates, book)
    per_item = worst.sum(axis=0)
    full_cost = float(per_item.sum())
    units = budget_units(budget, full_cost, has_cost=True, gpu=gpu)
    if units >= full_cost * (1 - 1e-12):
        strategy, order = "full", np.arange(len(items))
    else:
        strategy, order = "random", np.random.default_rng([seed, 1]).permutation(len(items))
    count = int(np.sum(np.cumsum(per_item[order]) <= units * (1 + 1e-12)))
    if count == 0:
        raise InputError(
            f"Budget {budget.text!r} buys no item of {benchmark}: the cheapest costs up to ${per_item.min():.2g} "
            f"for {'this candidate' if len(candidates) == 1 else f'these {len(candidates)} candidates'}."
        )
    chosen = np.sort(order[:count]) if strategy == "random" else order[:count]
    spend = float(per_item[chosen].sum())
    return Plan(
        benchmark=benchmark,
        objective="ranking",
        strategy=strategy,
        budget=budget.label(),
        budget_units=units,
        cost_unit="usd",
        cost_basis="worst-case",
        candidates=list(candidates),
        history_models=[],
        stages=[
            PlanStage(
                name="main",
                models=list(candidates),
                item_ids=[items[j].item_id for j in chosen],
                budget_usd=units,
            )
        ],
        predicted_cost=Spread(mean=spend, p05=spend, p95=spend),
        predicted_fidelity=None,
        simulation={"items": len(items), "items_chosen": count, "full_worst_case_usd": full_cost},
        seed=seed,
    )
