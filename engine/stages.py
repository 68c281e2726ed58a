"""Staged strategies' rules, defined once: which candidates go on to the next stage, and how many of the next
items in order a stage's money buys.

The simulator (engine.sim.strategies) applies these functions to simulated results and the launcher
(engine.launch.runner) to live ones, so what is simulated is what is launched. A staged plan is a sequence
of stages over one item order: each stage runs, for the candidates still in, the next items of the order
(skipping those an earlier stage ran), whole items only, while the plan's spend stays within the stage's
cumulative budget (unspent money rolls over to the next stage). From the second stage on, the stage's
``narrow`` rule picks its candidates from every result of the earlier stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evalbudget.engine.candidates import Candidate

NarrowRule = Literal["top3-interval", "top-half"]


@dataclass(frozen=True)
class StageRun:
    """What one stage ran (or, simulated, would run): its models and its items in the order run."""

    name: str
    models: list[Candidate]
    item_ids: list[str]


NARROW_RULES: dict[str, str] = {
    "top3-interval": "the candidates whose 95% interval after the earlier stages still reaches the top 3",
    "top-half": "the better half (rounded up) of the previous stage's candidates by their mean so far",
}
Z95 = 1.959963984540054
TOP_TIER = 3
UNKNOWN_STDERR = 0.5
"""The standard error of a candidate with fewer than two results: the largest a score in [0, 1] can have."""
RELATIVE_TOLERANCE = 1e-9
"""Money sums that differ only by floating-point rounding (a billionth of the budget) still fit."""


def within(total: float, limit: float) -> bool:
    """Whether ``total`` fits ``limit``, up to rounding."""
    return bool(total <= limit * (1 + RELATIVE_TOLERANCE) + 1e-12)


def within_each(totals: np.ndarray, limits: np.ndarray | float) -> np.ndarray:
    """``within`` element by element."""
    return np.asarray(totals <= np.asarray(limits) * (1 + RELATIVE_TOLERANCE) + 1e-12)


def affordable(item_costs: np.ndarray, allowance: float) -> tuple[int, float]:
    """How many of the items, in order, fit ``allowance`` whole (the running total of ``item_costs``, one
    entry per item: its cost for every candidate still in, stays within it), and what they cost."""
    running = np.cumsum(item_costs)
    count = int(np.sum(within_each(running, allowance)))
    return count, float(running[count - 1]) if count else 0.0


def keep(rule: NarrowRule, scores: np.ndarray) -> np.ndarray:
    """(C,) bool: which of C candidates go on, from ``scores`` (C, n): each candidate's results so far, NaN
    where it has none.

    ``top3-interval`` (Flash-HELM's coarse-to-fine): with a mean and a 95% interval per candidate (standard
    error with ddof 1; 0.5 with fewer than two results), keep those whose upper bound reaches the third-best
    lower bound; a candidate with no result is dropped, and with three or fewer candidates that have results,
    every candidate is kept. ``top-half`` (successive halving): the better half, rounded up, by mean (ties
    keep the earlier candidate; a candidate with no result counts as worst).
    """
    count = np.sum(~np.isnan(scores), axis=1)
    total = np.nansum(scores, axis=1) if scores.size else np.zeros(scores.shape[0])
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    kept = np.zeros(scores.shape[0], dtype=bool)
    if rule == "top-half":
        ranked = np.argsort(-np.nan_to_num(mean, nan=-np.inf), kind="stable")
        kept[ranked[: math.ceil(scores.shape[0] / 2)]] = True
        return kept
    if rule != "top3-interval":
        raise ValueError(f"unknown narrow rule {rule!r}")
    seen = count > 0
    if np.sum(seen) <= TOP_TIER:
        kept[:] = True
        return kept
    deviation = np.where(np.isnan(scores), 0.0, scores - np.nan_to_num(mean)[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.sum(deviation**2, axis=1) / np.maximum(count - 1, 1)
        stderr = np.where(count > 1, np.sqrt(variance) / np.sqrt(count), UNKNOWN_STDERR)
    lower = np.where(seen, mean - Z95 * stderr, -np.inf)
    threshold = np.sort(lower)[::-1][TOP_TIER - 1]
    kept[seen] = (mean + Z95 * stderr)[seen] >= threshold
    return kept


def halving_rounds(candidates: int) -> int:
    """Successive halving's rounds: halve (rounding up) until one candidate is left."""
    return max(1, math.ceil(math.log2(max(candidates, 1))))
