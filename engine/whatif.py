"""What-if: apply a pricing scenario to past rollouts and compare cost and accuracy with the baseline.

Baseline cost of a rollout: its stored cost (recorded, or priced at ingest), else (in a run that records no
cost at all) its tokens priced with the book at the date it ran, else its GPU-seconds at the GPU card's
rate, else unknown. ``reprice`` prices every
rollout that has tokens, even where a cost was recorded. Unknown stays unknown (NaN here, ``null`` in JSON)
and is counted, never summed as $0.

Scenario, in order: a price override re-prices rollouts that have tokens, and scales a recorded cost that has
none by the ratio of the override's blended price to the book's (stated in the report's notes); a cache-hit
rate moves that share
of uncached input to the cache-read price; a GPU rate re-prices GPU-seconds; a batch discount takes its
share off API costs; then per-rollout caps (token, cost, time) make a rollout over the cap count as failed
(score 0) and cost no more than the cap, the honest approximation when traces hold totals only.

Every part of a scenario either changes the result or says in ``notes`` why it cannot (a token cap where no
rollout has token counts, a GPU rate for a GPU nothing ran on, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
from pydantic import BaseModel

from evalbudget.engine.candidates import did_you_mean
from evalbudget.engine.errors import InputError
from evalbudget.engine.tables import Col, money, render_table
from evalbudget.pricing import GpuCard, PriceBook, PriceCard, Scenario, gpu_cost, price_ratio, token_cost
from evalbudget.pricing.cost import BLENDED_INPUT_PER_OUTPUT

GROUPINGS = ("model", "benchmark", "scaffold")


class WhatIfRow(BaseModel):
    key: str
    baseline_cost_usd: float | None
    scenario_cost_usd: float | None
    baseline_accuracy: float
    scenario_accuracy: float
    rollouts: int
    unpriced_rollouts: int
    """Rollouts whose scenario cost is unknown; they are not in the cost sums."""
    capped_rollouts: int
    """Rollouts over a per-rollout cap: counted as failed and charged the cap."""


class WhatIfReport(BaseModel):
    benchmark: str | None
    by: str
    scenario: Scenario
    baseline_cost_usd: float
    scenario_cost_usd: float
    unpriced_rollouts: int
    rows: list[WhatIfRow]
    notes: list[str] = []
    """What each part of the scenario did where it is not plain, and why a part changed nothing."""


def _load(conn: duckdb.DuckDBPyConnection, benchmark: str | None) -> dict[str, np.ndarray]:
    where = "WHERE benchmark = ?" if benchmark else ""
    params = [benchmark] if benchmark else []
    data = conn.execute(
        f"""
        SELECT model, benchmark, scaffold,
               coalesce(score, 0)::DOUBLE AS score,
               coalesce(input_tokens::DOUBLE, 'NaN') AS input_tokens,
               coalesce(cached_input_tokens::DOUBLE, 0) AS cached_input_tokens,
               coalesce(cache_write_tokens::DOUBLE, 0) AS cache_write_tokens,
               coalesce(output_tokens::DOUBLE, 'NaN') AS output_tokens,
               coalesce(reasoning_tokens::DOUBLE, 0) AS reasoning_tokens,
               coalesce(cost_usd, 'NaN') AS cost_usd,
               coalesce(latency_s, 'NaN') AS latency_s,
               coalesce(gpu_seconds, 'NaN') AS gpu_seconds,
               coalesce(gpu_type, '') AS gpu_type,
               coalesce(strftime(started_at, '%Y-%m-%d'), '') AS day,
               bool_or(cost_usd IS NOT NULL) OVER (PARTITION BY run_id) AS run_records_cost
        FROM rollouts {where}
        """,
        params,
    ).fetchnumpy()
    return {name: np.asarray(values) for name, values in data.items()}


class _BookPrices:
    """The book's card for each rollout (by model and the day it ran), and its cost from tokens."""

    def __init__(self, book: PriceBook, models: np.ndarray, days: np.ndarray) -> None:
        groups: dict[tuple[str, str], list[int]] = {}
        for index, (model, day) in enumerate(zip(models, days, strict=True)):
            groups.setdefault((str(model), str(day)), []).append(index)
        self.groups: list[tuple[PriceCard, np.ndarray]] = []
        self.matched = np.zeros(len(models), dtype=bool)
        for (model, day), indexes in groups.items():
            card = book.resolve(model, date.fromisoformat(day) if day else None).card
            if card is not None:
                at = np.asarray(indexes)
                self.groups.append((card, at))
                self.matched[at] = True

    def cost(
        self,
        input_tokens: np.ndarray,
        cached: np.ndarray,
        output: np.ndarray,
        reasoning: np.ndarray,
        cache_write: np.ndarray,
    ) -> np.ndarray:
        """Tokens priced with each rollout's card; NaN where the model is unmatched."""
        priced = np.full(len(self.matched), np.nan)
        for card, at in self.groups:
            priced[at] = token_cost(
                card, input_tokens[at], cached[at], output[at], reasoning[at], cache_write[at]
            )
        return priced


def _gpu_costs(gpu_seconds: np.ndarray, gpu_types: np.ndarray, cards: dict[str, GpuCard]) -> np.ndarray:
    """GPU-seconds priced with the card of each rollout's GPU type; NaN where no card applies."""
    priced = np.full(len(gpu_seconds), np.nan)
    upper = np.char.upper(gpu_types.astype(str))
    for gpu_type, card in cards.items():
        at = upper == gpu_type.upper()
        priced[at] = gpu_cost(card, gpu_seconds[at])
    return priced


def run_whatif(
    conn: duckdb.DuckDBPyConnection,
    book: PriceBook,
    scenario: Scenario,
    *,
    benchmark: str | None = None,
    by: str = "model",
    reprice: bool = False,
) -> WhatIfReport:
    if by not in GROUPINGS:
        raise InputError(f"--by {by!r} must be one of {', '.join(GROUPINGS)}.")
    if benchmark is not None:
        found = conn.execute("SELECT count(*) FROM rollouts WHERE benchmark = ?", [benchmark]).fetchone()
        if not found or not found[0]:
            raise InputError(f"Benchmark {benchmark!r} has no per-rollout data in the store.")
    stored = model_names(conn, benchmark)
    unknown = sorted(set(scenario.prices) - set(stored))
    if unknown:
        where = f"on {benchmark}" if benchmark else "in the store"
        raise InputError(
            f"The price override names {unknown[0]!r}, which is not a model {where}"
            + (did_you_mean(unknown[0], stored) or ".")
        )
    notes: list[str] = []
    data = _load(conn, benchmark)
    tokens_in, cached = data["input_tokens"], data["cached_input_tokens"]
    tokens_out, reasoning = data["output_tokens"], data["reasoning_tokens"]
    written = data["cache_write_tokens"]
    has_tokens = ~np.isnan(tokens_in) & ~np.isnan(tokens_out)
    book_prices = _BookPrices(book, data["model"], data["day"])
    matched = book_prices.matched

    baseline = data["cost_usd"].copy()
    priceable = has_tokens & matched
    # A run whose source records costs is not topped up with priced figures: its recorded figure may cover
    # something else (AlpacaEval records the judge's cost, and its tokens are the judged model's).
    fill = priceable if reprice else priceable & np.isnan(baseline) & ~data["run_records_cost"]
    baseline[fill] = book_prices.cost(tokens_in, cached, tokens_out, reasoning, written)[fill]
    book_gpu = _gpu_costs(data["gpu_seconds"], data["gpu_type"], book.gpus)
    gpu_fill = np.isnan(baseline) & ~np.isnan(book_gpu)
    baseline[gpu_fill] = book_gpu[gpu_fill]

    cost = baseline.copy()
    score = data["score"].copy()
    moved = tokens_in * scenario.cache_hit_rate
    new_in, new_cached = tokens_in - moved, cached + moved
    for model, override in scenario.prices.items():
        rows = has_tokens & (data["model"] == model)
        card = PriceCard(model=model, source="scenario", **override.model_dump())
        book_card = book.resolve(model).card
        if card.cache_read_mtok is None:  # keep the book's cache prices unless the override names them
            card.cache_read_mtok = book_card.cache_read_mtok if book_card else None
        if card.cache_write_mtok is None:
            card.cache_write_mtok = book_card.cache_write_mtok if book_card else None
        cost[rows] = token_cost(
            card, new_in[rows], new_cached[rows], tokens_out[rows], reasoning[rows], written[rows]
        )
        notes.extend(_scale_untokened(model, card, book, data, has_tokens, cost))
    if scenario.cache_hit_rate and not has_tokens.any():
        notes.append("No rollout here has token counts, so the cache-hit rate changes nothing.")
    if scenario.cache_hit_rate:
        others = priceable & ~np.isin(data["model"], list(scenario.prices))
        delta = book_prices.cost(new_in, new_cached, tokens_out, reasoning, written) - book_prices.cost(
            tokens_in, cached, tokens_out, reasoning, written
        )
        cost[others] = cost[others] + delta[others]
    gpu_rows = ~np.isnan(data["gpu_seconds"])
    scenario_gpu = _gpu_costs(
        data["gpu_seconds"],
        data["gpu_type"],
        {
            t: GpuCard(gpu_type=t, usd_per_hour=rate, source="scenario")
            for t, rate in scenario.gpu_rates.items()
        },
    )
    cost[~np.isnan(scenario_gpu)] = scenario_gpu[~np.isnan(scenario_gpu)]
    ran_on = {t.upper() for t in data["gpu_type"].astype(str).tolist() if t}
    notes.extend(
        f"No rollout here ran on GPU type {t!r}, so its rate changes nothing."
        for t in scenario.gpu_rates
        if t.upper() not in ran_on
    )
    if scenario.batch_discount:
        cost[~gpu_rows] = cost[~gpu_rows] * (1.0 - scenario.batch_discount)
        if gpu_rows.all():
            notes.append(
                "Every rollout here ran on a GPU, so the batch discount (API prices) changes nothing."
            )

    capped = np.zeros(len(cost), dtype=bool)
    if scenario.token_cap is not None and not has_tokens.any():
        notes.append("No rollout here has token counts, so the token cap changes nothing.")
    if scenario.time_cap_s is not None and np.isnan(data["latency_s"]).all():
        notes.append("No rollout here has a recorded time, so the time cap changes nothing.")
    if scenario.token_cap is not None:
        total = tokens_in + cached + written + tokens_out + reasoning
        over = has_tokens & (total > scenario.token_cap)
        cost[over] = cost[over] * scenario.token_cap / total[over]
        capped |= over
    if scenario.cost_cap_usd is not None:
        over = ~np.isnan(cost) & (cost > scenario.cost_cap_usd)
        cost[over] = scenario.cost_cap_usd
        capped |= over
    if scenario.time_cap_s is not None:
        latency = data["latency_s"]
        over = ~np.isnan(latency) & (latency > scenario.time_cap_s)
        cost[over] = cost[over] * scenario.time_cap_s / latency[over]
        capped |= over
    score[capped] = 0.0

    keys = data[by].astype(str)
    rows_out = [
        _row(str(key), keys == key, baseline, cost, data["score"], score, capped)
        for key in sorted(set(keys.tolist()))
    ]
    return WhatIfReport(
        benchmark=benchmark,
        by=by,
        scenario=scenario,
        baseline_cost_usd=float(np.nansum(baseline)),
        scenario_cost_usd=float(np.nansum(cost)),
        unpriced_rollouts=int(np.isnan(cost).sum()),
        rows=rows_out,
        notes=notes,
    )


def _scale_untokened(
    model: str,
    card: PriceCard,
    book: PriceBook,
    data: dict[str, np.ndarray],
    has_tokens: np.ndarray,
    cost: np.ndarray,
) -> list[str]:
    """A price override on rollouts with a cost but no token counts: the cost scaled by the ratio of the
    override's blended price to the book's price for the model (in place); the note says so, or why not."""
    rows = ~has_tokens & (data["model"] == model) & ~np.isnan(cost)
    if not rows.any():
        return []
    book_card = book.resolve(model).card
    ratio = price_ratio(card, book_card) if book_card is not None else None
    if ratio is None or book_card is None:
        return [
            f"{model!r} has no token counts here and no price in the book to compare with, so its price "
            f"override cannot change its {int(rows.sum()):,} recorded costs."
        ]
    cost[rows] = cost[rows] * ratio
    return [
        f"{model!r} has no token counts here: its {int(rows.sum()):,} recorded costs are scaled by {ratio:.3g}, "
        f"the override's price over the book's (${book_card.input_mtok:g}/${book_card.output_mtok:g} per Mtok) "
        f"at {BLENDED_INPUT_PER_OUTPUT:g} input tokens per output token."
    ]


def _row(
    key: str,
    rows: np.ndarray,
    baseline: np.ndarray,
    cost: np.ndarray,
    baseline_score: np.ndarray,
    score: np.ndarray,
    capped: np.ndarray,
) -> WhatIfRow:
    def total(values: np.ndarray) -> float | None:
        known = values[rows & ~np.isnan(values)]
        return float(known.sum()) if known.size else None

    return WhatIfRow(
        key=key,
        baseline_cost_usd=total(baseline),
        scenario_cost_usd=total(cost),
        baseline_accuracy=float(baseline_score[rows].mean()),
        scenario_accuracy=float(score[rows].mean()),
        rollouts=int(rows.sum()),
        unpriced_rollouts=int(np.isnan(cost[rows]).sum()),
        capped_rollouts=int(capped[rows].sum()),
    )


def model_names(conn: duckdb.DuckDBPyConnection, benchmark: str | None = None) -> list[str]:
    """The models with rollouts (on ``benchmark``), sorted: what a price override may name."""
    where, params = ("WHERE benchmark = ?", [benchmark]) if benchmark else ("", [])
    rows = conn.execute(f"SELECT DISTINCT model FROM rollouts {where} ORDER BY 1", params).fetchall()
    return [str(r[0]) for r in rows]


def format_table(report: WhatIfReport, columns: Sequence[str] = ()) -> str:
    """The report as an aligned text table for the terminal."""
    header = [
        Col(report.by, max_width=42),
        Col("rollouts", True),
        Col("base $", True),
        Col("scen $", True),
        Col("base acc", True),
        Col("scen acc", True),
        Col("unpriced", True),
        Col("capped", True),
    ]
    rows = [
        (
            r.key,
            r.rollouts,
            money(r.baseline_cost_usd),
            money(r.scenario_cost_usd),
            f"{r.baseline_accuracy:.3f}",
            f"{r.scenario_accuracy:.3f}",
            r.unpriced_rollouts,
            r.capped_rollouts,
        )
        for r in report.rows
    ]
    totals = (
        "total",
        sum(r.rollouts for r in report.rows),
        money(report.baseline_cost_usd),
        money(report.scenario_cost_usd),
        "",
        "",
        "",
        "",
    )
    return render_table(header, rows, totals)
