"""Cost vs accuracy per (model, scaffold) on one benchmark, with the Pareto-optimal points marked.

Works on per-rollout data and on aggregate-only runs (Aider's edit formats, HAL's leaderboard). Points are
compared by the cost of one item where every point knows its item count, else by the cost of a whole run of
the benchmark (HAL's records give totals and no counts). On benchmarks with repeated
attempts it also splits the variance of a model's score into between-item and within-item parts and says
how many repeats per item a target interval width needs.
"""

from __future__ import annotations

import math
from typing import Literal

import duckdb
import numpy as np
from pydantic import BaseModel

from evalbudget.engine.errors import InputError
from evalbudget.engine.records import NOT_HISTORY
from evalbudget.engine.tables import Col, render_table

Z95 = 1.959963984540054


class RepeatVariance(BaseModel):
    between_item: float
    """Variance of the per-item mean scores across items."""
    within_item: float
    """Mean variance of an item's score across its repeated attempts."""
    mean_repeats: float
    target_halfwidth: float
    repeats_needed: int | None
    """Repeats per item that bring the 95% half-width to the target with all items run; None when even
    infinitely many repeats cannot (the between-item part alone is wider)."""


class FrontierPoint(BaseModel):
    model: str
    scaffold: str
    accuracy: float
    ci95_low: float | None
    ci95_high: float | None
    """The accuracy's 95% interval; None for an aggregate run that gives no item count."""
    items: int | None
    """Items the point ran; None for an aggregate run that does not say."""
    cost_per_item_usd: float | None
    """Mean known cost of running one item; None when no cost or no item count is known."""
    run_cost_usd: float | None = None
    """What the whole run cost: the known cost per attempt times its attempts, or an aggregate run's recorded
    total; None when no cost is known."""
    unpriced_rollouts: int
    pareto: bool
    """No other point is at least as accurate for at most the cost (and better in one)."""
    source: str
    """``rollouts`` or ``aggregate`` (a run that publishes totals only)."""
    repeats: RepeatVariance | None = None


class Frontier(BaseModel):
    benchmark: str
    points: list[FrontierPoint]
    cost_basis: Literal["item", "run"] = "item"
    """What the points' costs are compared by: one item, or (where a point's item count is unknown) one run."""

    def cost(self, point: FrontierPoint) -> float | None:
        """The point's cost on this frontier's basis."""
        return point.cost_per_item_usd if self.cost_basis == "item" else point.run_cost_usd

    @property
    def cost_label(self) -> str:
        return "$/item" if self.cost_basis == "item" else "$/run"


def _interval(accuracy: float, stderr: float) -> tuple[float, float]:
    return max(0.0, accuracy - Z95 * stderr), min(1.0, accuracy + Z95 * stderr)


def _repeat_variance(per_item: list[list[float]], target: float) -> RepeatVariance | None:
    attempts = [np.asarray(a, dtype=np.float64) for a in per_item]
    if max(len(a) for a in attempts) < 2:
        return None
    means = np.array([a.mean() for a in attempts])
    within = float(np.mean([a.var(ddof=1) for a in attempts if len(a) > 1]))
    between = float(means.var(ddof=1)) if len(means) > 1 else 0.0
    n = len(attempts)
    # half-width^2 = z^2 (between + within / k) / n  ->  k = within / (n w^2 / z^2 - between)
    room = n * target**2 / Z95**2 - between
    needed = math.ceil(within / room) if room > 0 else None
    return RepeatVariance(
        between_item=between,
        within_item=within,
        mean_repeats=float(np.mean([len(a) for a in attempts])),
        target_halfwidth=target,
        repeats_needed=max(1, needed) if needed is not None else None,
    )


def frontier(conn: duckdb.DuckDBPyConnection, benchmark: str, target_halfwidth: float = 0.05) -> Frontier:
    cursor = conn.cursor()
    rows = cursor.execute(
        f"""
        SELECT model, scaffold, item_id, list(coalesce(score, 0) ORDER BY "repeat"), sum(cost_usd),
               count(cost_usd), count(*)
        FROM rollouts WHERE benchmark = ?
            -- an excluded run or a replayed launch (a copy of stored rollouts) is not a point of its own
            AND run_id NOT IN ({NOT_HISTORY})
        GROUP BY ALL ORDER BY model, scaffold
        """,
        [benchmark],
    ).fetchall()
    points: list[FrontierPoint] = []
    groups: dict[tuple[str, str], list[tuple[list[float], float | None, int, int]]] = {}
    for model, scaffold, _, scores, cost, priced, attempts in rows:
        groups.setdefault((model, scaffold), []).append((scores, cost, priced, attempts))
    for (model, scaffold), items in groups.items():
        means = np.array([np.mean(s) for s, _, _, _ in items])
        accuracy = float(means.mean())
        stderr = float(means.std(ddof=1) / math.sqrt(len(means))) if len(means) > 1 else 0.0
        priced = sum(p for _, _, p, _ in items)
        attempts = sum(a for _, _, _, a in items)
        cost = sum(c for _, c, _, _ in items if c is not None)
        low, high = _interval(accuracy, stderr)
        points.append(
            FrontierPoint(
                model=model,
                scaffold=scaffold,
                accuracy=accuracy,
                ci95_low=low,
                ci95_high=high,
                items=len(items),
                # the mean cost of one attempt, times the attempts an item got: what running an item cost
                cost_per_item_usd=cost / priced * attempts / len(items) if priced else None,
                run_cost_usd=cost / priced * attempts if priced else None,
                unpriced_rollouts=attempts - priced,
                pareto=False,
                source="rollouts",
                repeats=_repeat_variance([s for s, _, _, _ in items], target_halfwidth),
            )
        )
    for model, scaffold, n_items, accuracy, total_cost in cursor.execute(
        """
        SELECT model, coalesce(scaffold, ''), n_items, accuracy, total_cost_usd FROM runs
        WHERE aggregate_only AND NOT coalesce(excluded, false) AND benchmark = ? AND accuracy IS NOT NULL
        ORDER BY model, scaffold
        """,
        [benchmark],
    ).fetchall():
        n = int(n_items) if n_items else None
        bounds: tuple[float | None, float | None] = (None, None)
        if n is not None:
            bounds = _interval(float(accuracy), math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n))
        points.append(
            FrontierPoint(
                model=model,
                scaffold=scaffold,
                accuracy=float(accuracy),
                ci95_low=bounds[0],
                ci95_high=bounds[1],
                items=n,
                cost_per_item_usd=float(total_cost) / n if total_cost is not None and n else None,
                run_cost_usd=float(total_cost) if total_cost is not None else None,
                unpriced_rollouts=0,
                pareto=False,
                source="aggregate",
            )
        )
    if not points:
        raise InputError(f"Benchmark {benchmark!r} has no rollouts or aggregate runs in the store's history.")
    result = Frontier(
        benchmark=benchmark,
        points=points,
        cost_basis="run" if any(p.items is None for p in points) else "item",
    )
    _mark_pareto(result)
    result.points.sort(key=lambda p: (result.cost(p) is None, result.cost(p) or 0.0, -p.accuracy))
    return result


def _mark_pareto(result: Frontier) -> None:
    priced = [(p, cost) for p in result.points if (cost := result.cost(p)) is not None]
    for point, cost in priced:
        point.pareto = not any(
            other is not point
            and other_cost <= cost
            and other.accuracy >= point.accuracy
            and (other_cost < cost or other.accuracy > point.accuracy)
            for other, other_cost in priced
        )


def interval_text(point: FrontierPoint) -> str:
    if point.ci95_low is None or point.ci95_high is None:
        return "unknown"
    return f"[{point.ci95_low:.3f}, {point.ci95_high:.3f}]"


def money_text(result: Frontier, point: FrontierPoint) -> str:
    """A point's cost as the tables show it: to four decimals per item, to the cent per run."""
    cost = result.cost(point)
    if cost is None:
        return "unknown"
    return f"{cost:.4f}" if result.cost_basis == "item" else f"{cost:,.2f}"


def format_frontier(result: Frontier) -> str:
    columns = [
        Col("model", max_width=40),
        Col("scaffold", max_width=28),
        Col("accuracy", True),
        Col("95% interval", True),
        Col("items", True),
        Col(result.cost_label, True),
        Col("pareto", True),
    ]
    rows = [
        (
            p.model,
            p.scaffold,
            f"{p.accuracy:.3f}",
            interval_text(p),
            "unknown" if p.items is None else p.items,
            money_text(result, p),
            "*" if p.pareto else "",
        )
        for p in result.points
    ]
    lines = [render_table(columns, rows)]
    repeated = [p for p in result.points if p.repeats is not None]
    if repeated:
        lines += [
            "",
            "repeats: between-item vs within-item variance, and repeats per item for the target half-width",
        ]
        repeat_rows = []
        for p in repeated:
            assert p.repeats is not None
            needed = "unreachable" if p.repeats.repeats_needed is None else str(p.repeats.repeats_needed)
            repeat_rows.append(
                (
                    p.model,
                    f"{p.repeats.between_item:.4f}",
                    f"{p.repeats.within_item:.4f}",
                    f"{p.repeats.mean_repeats:.1f}",
                    f"+/-{p.repeats.target_halfwidth:g}: {needed}",
                )
            )
        repeat_columns = [
            Col("model", max_width=40),
            Col("between", True),
            Col("within", True),
            Col("mean repeats", True),
            Col("repeats for", True),
        ]
        lines.append(render_table(repeat_columns, repeat_rows))
    return "\n".join(lines)
