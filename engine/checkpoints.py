"""Checkpoint series: the learning curves the store holds, and what evaluating one checkpoint costs.

A model can be one checkpoint of a training run (the ``checkpoints`` table: series, step, and where known the
series' final step and the tokens seen). A series' learning curve on a benchmark is its checkpoints' scores in
step order, from aggregate-only runs (lm-eval results files) or from the mean of per-item rollouts. Series
have different step grids, so curves are compared in training progress, step / final step (the series' last
step in the store where its final step is not known).

Cost is compute, not API money: evaluating a checkpoint of P parameters on T tokens takes 2 x P x T FLOPs
(one forward pass), run at the GPU card's dense BF16 throughput times a utilisation, and priced with the card.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import duckdb
import numpy as np

from evalbudget.engine.errors import InputError
from evalbudget.engine.records import NOT_HISTORY
from evalbudget.engine.sim.budget import Budget
from evalbudget.pricing import GpuCard

UTILISATION = 0.3
"""Share of the card's dense BF16 throughput a checkpoint evaluation reaches: lm-eval's log-likelihood tasks are
forward passes only (prefill), at the batch sizes it uses (8-16), where a third of peak is typical."""

DEFAULT_TOKENS_PER_ITEM = 200
TOKENS_PER_ITEM: dict[str, int] = {
    # tokens one zero-shot item puts through the model: the context once per answer choice plus the choice
    "lambada_openai": 80,  # one passage, one last word
    "lambada_standard": 80,
    "arc_easy": 120,  # 4 choices x (question ~25 + answer ~5)
    "arc_challenge": 140,  # 4 x (~30 + ~5)
    "piqa": 100,  # 2 x (goal ~25 + solution ~25)
    "sciq": 480,  # 4 x (support ~110 + question and answer ~10)
    "winogrande": 60,  # 2 x ~30
    "logiqa": 800,  # 4 x (passage and question ~190 + option ~10)
    "wsc": 80,  # 2 x ~40
    "wsc273": 80,
    "hendrycksTest-": 360,  # MMLU: 4 x (question ~80 + answer ~10); any task with this prefix
    "mmlu": 360,
    "crows_pairs_": 60,  # 2 sentences x ~30
    "blimp_": 30,  # 2 sentences x ~15
}
"""Documented estimates per task (a name ending in ``-`` or ``_`` is a prefix); ``--tokens-per-item`` overrides.
A k-shot item carries k solved examples in its context: (1 + k) times the zero-shot tokens."""

_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*([kmbt])(?![a-z0-9])", re.IGNORECASE)
_UNITS = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def params_from_name(series: str) -> float | None:
    """A model's parameter count from its name (``pythia-1.4b-deduped`` -> 1.4e9); None where it names none."""
    name = series.rsplit("/", 1)[-1]
    for match in _SIZE.finditer(name):
        return float(match[1]) * _UNITS[match[2].lower()]
    return None


def tokens_per_item(benchmark: str, scaffold: str = "", override: int | None = None) -> int:
    """Tokens one item of ``benchmark`` puts through the model (see TOKENS_PER_ITEM)."""
    if override is not None:
        base = override
    else:
        base = TOKENS_PER_ITEM.get(benchmark) or next(
            (v for k, v in TOKENS_PER_ITEM.items() if k.endswith(("-", "_")) and benchmark.startswith(k)),
            DEFAULT_TOKENS_PER_ITEM,
        )
    shots = re.match(r"^(\d+)-shot$", scaffold)
    return base * (1 + int(shots[1])) if shots else base


def gpu_hours(params: float, tokens: float, card: GpuCard, utilisation: float = UTILISATION) -> float:
    """GPU-hours for 2 x params x tokens FLOPs on ``card``."""
    if card.bf16_tflops is None:
        raise InputError(
            f"GPU type {card.gpu_type!r} has no throughput (bf16_tflops) in its price card: add it in prices.toml "
            "to cost checkpoint evaluations in GPU-hours."
        )
    return 2.0 * params * tokens / (card.bf16_tflops * 1e12 * utilisation) / 3600.0


@dataclass(frozen=True)
class Curve:
    """One series' learning curve on one benchmark, in step order."""

    series: str
    models: tuple[str, ...]
    """The checkpoint models, as rollouts and runs name them."""
    steps: np.ndarray
    progress: np.ndarray
    """step / final step, in [0, 1]."""
    scores: np.ndarray
    items: np.ndarray
    """Items each checkpoint's score is over (the benchmark's size where a run does not say)."""
    params: float | None

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class SeriesData:
    benchmark: str
    scaffold: str
    curves: list[Curve]

    @property
    def names(self) -> list[str]:
        return [c.series for c in self.curves]


def checkpoint_benchmarks(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Benchmarks with a result for checkpoints of at least two series, most series first."""
    rows = conn.execute(
        f"""
        SELECT benchmark FROM ({_scores("LIKE")}) s JOIN checkpoints c USING (model)
        GROUP BY benchmark HAVING count(DISTINCT c.series) >= 2 ORDER BY count(DISTINCT c.series) DESC, 1
        """,
        ["%", "%"],
    ).fetchall()
    return [r[0] for r in rows]


def _scores(match: str = "=") -> str:
    """Each (benchmark, model, scaffold)'s score and item count: an aggregate-only run's, else its rollouts'
    mean; the benchmark compared with ``match`` (``=``, or ``LIKE``) against two parameters."""
    return f"""
    WITH aggregate AS (
        SELECT benchmark, model, coalesce(scaffold, '') AS scaffold, avg(accuracy) AS score, max(n_items) AS items
        FROM runs
        WHERE aggregate_only AND accuracy IS NOT NULL AND NOT coalesce(excluded, false) AND benchmark {match} ?
        GROUP BY ALL
    )
    SELECT * FROM aggregate
    UNION ALL
    SELECT r.benchmark, r.model, coalesce(r.scaffold, ''), avg(r.score), count(DISTINCT r.item_id) FROM rollouts r
    ANTI JOIN aggregate a ON a.benchmark = r.benchmark AND a.model = r.model AND a.scaffold = r.scaffold
    WHERE r.score IS NOT NULL AND r.run_id NOT IN ({NOT_HISTORY}) AND r.benchmark {match} ?
    GROUP BY ALL
"""


def load_series(
    conn: duckdb.DuckDBPyConnection, benchmark: str, *, scaffold: str = "", min_checkpoints: int = 3
) -> SeriesData:
    """Every series' curve on ``benchmark`` (with ``scaffold``: lm-eval's few-shot runs are ``5-shot``); series
    with fewer than ``min_checkpoints`` results are left out."""
    rows = conn.execute(
        f"""
        WITH s AS ({_scores()})
        SELECT c.series, c.model, c.step,
               c.step / coalesce(c.final_step, max(c.step) OVER (PARTITION BY c.series)) AS progress,
               s.score, s.items
        FROM checkpoints c JOIN s ON s.model = c.model AND s.scaffold = ?
        ORDER BY c.series, c.step
        """,
        [benchmark, benchmark, scaffold],
    ).fetchall()
    if not rows:
        known = checkpoint_benchmarks(conn)
        hint = f" (benchmarks with checkpoint results: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''})"
        raise InputError(
            f"No checkpoint series has results on benchmark {benchmark!r}"
            + (f" with scaffold {scaffold!r}" if scaffold else "")
            + (hint if known else "; ingest lm-eval results of a series' checkpoints first")
            + "."
        )
    by_series: dict[str, list[tuple[str, int, float, float, int | None]]] = {}
    for series, model, step, progress, score, items in rows:
        by_series.setdefault(series, []).append((model, step, progress, score, items))
    known_items = [r[5] for r in rows if r[5]]
    size = int(np.median(known_items)) if known_items else 0
    curves = []
    for series, points in by_series.items():
        if len(points) < min_checkpoints:
            continue
        progress = np.clip(np.array([p[2] for p in points], dtype=float), 0.0, 1.0)
        curves.append(
            Curve(
                series=series,
                models=tuple(p[0] for p in points),
                steps=np.array([p[1] for p in points], dtype=np.int64),
                progress=progress,
                scores=np.array([p[3] for p in points], dtype=float),
                items=np.array([p[4] or size for p in points], dtype=np.int64),
                params=params_from_name(series),
            )
        )
    if len(curves) < 2:
        raise InputError(
            f"Benchmark {benchmark!r} has checkpoint results of {len(curves)} series with at least "
            f"{min_checkpoints} checkpoints; simulating needs two (one is the new run, the others its history)."
        )
    return SeriesData(benchmark, scaffold, curves)


def checkpoint_gpu_hours(
    curve: Curve,
    benchmark: str,
    scaffold: str,
    card: GpuCard,
    *,
    params: float | None = None,
    tokens: int | None = None,
    utilisation: float = UTILISATION,
) -> float:
    """GPU-hours to evaluate one checkpoint of ``curve`` on every item of the benchmark."""
    size = params or curve.params
    if size is None:
        raise InputError(
            f"Series {curve.series!r} names no parameter count (such as 160m or 1.4b): give it with --params."
        )
    items = float(np.max(curve.items)) if len(curve.items) else 0.0
    hours = gpu_hours(size, items * tokens_per_item(benchmark, scaffold, tokens), card, utilisation)
    if not math.isfinite(hours) or hours < 0:
        raise InputError(f"Series {curve.series!r}: the cost of a checkpoint is not a finite number.")
    return hours


def parse_params(text: str) -> float:
    """``--params``: a count such as 1.4b, 160m or 6900000000."""
    try:
        value = float(text)
    except ValueError:
        parsed = params_from_name(text.strip())
        if parsed is None or _SIZE.fullmatch(text.strip()) is None:
            raise InputError(
                f"--params {text!r} is not a parameter count (such as 1.4b, 160m or 6.9e9)."
            ) from None
        value = parsed
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"--params {text!r} must be a positive number.")
    return value


@dataclass(frozen=True)
class CheckpointCosts:
    """What the budgets buy of each series (``shares[budget][s]``, a share of its full evaluation), and each
    series' GPU-hours per checkpoint on every item (None where a series' size is unknown)."""

    shares: dict[str, list[float]]
    gpu_hours_per_checkpoint: list[float] | None


def checkpoint_costs(
    data: SeriesData,
    budgets: list[Budget],
    card: GpuCard,
    *,
    params: float | None = None,
    tokens: int | None = None,
    utilisation: float = UTILISATION,
) -> CheckpointCosts:
    """Each budget as a share of each series' full evaluation (every checkpoint, every item): a ``%`` budget
    directly, GPU-hours and dollars through each series' cost (which needs its parameter count)."""
    hours: list[float] | None
    try:
        hours = [
            checkpoint_gpu_hours(
                c, data.benchmark, data.scaffold, card, params=params, tokens=tokens, utilisation=utilisation
            )
            for c in data.curves
        ]
    except InputError:
        if any(b.kind != "percent" for b in budgets):
            raise
        hours = None
    shares: dict[str, list[float]] = {}
    for budget in budgets:
        if budget.kind == "percent":
            shares[budget.label()] = [budget.value / 100.0] * len(data.curves)
            continue
        assert hours is not None
        shares[budget.label()] = [
            budget_share(budget, h * len(c), card) for h, c in zip(hours, data.curves, strict=True)
        ]
    return CheckpointCosts(shares, hours)


def budget_share(budget: Budget, full_gpu_hours: float | None, card: GpuCard) -> float:
    """What share of a full evaluation (``full_gpu_hours``) the budget buys: a ``%`` directly, GPU-hours and
    dollars (at the card's rate) against the full cost, at most all of it."""
    if budget.kind == "percent":
        return budget.value / 100.0
    assert full_gpu_hours is not None, "a budget in GPU-hours or dollars needs the run's cost"
    hours = budget.value if budget.kind == "gpu_h" else budget.value / card.usd_per_hour
    return min(1.0, hours / full_gpu_hours) if full_gpu_hours > 0 else 1.0


def series_names(conn: duckdb.DuckDBPyConnection, benchmark: str) -> list[str]:
    """The series with results on ``benchmark``, smallest first where their names give a size."""
    rows = conn.execute(
        f"SELECT DISTINCT c.series FROM ({_scores()}) s JOIN checkpoints c USING (model)",
        [benchmark, benchmark],
    ).fetchall()
    names = [r[0] for r in rows]
    return sorted(names, key=lambda n: (params_from_name(n) or math.inf, n))
