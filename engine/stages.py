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

NarrowRule = Literal["top3-interval", "top-half", "paired-race"]


@dataclass(frozen=True)
class StageRun:
    """What one stage ran (or, simulated, would run): its models and its items in the order run."""

    name: str
    models: list[Candidate]
    item_ids: list[str]
    picks: dict[Candidate, list[str]] | None = None
    """Stages that choose per candidate (adaptive): each model's own items, in the order run; ``item_ids``
    is then every item some model ran."""

    def pairs(self) -> list[tuple[Candidate, str]]:
        """Every (model, item) the stage ran."""
        if self.picks is not None:
            return [(m, i) for m in self.models for i in self.picks.get(m, [])]
        return [(m, i) for m in self.models for i in self.item_ids]


NARROW_RULES: dict[str, str] = {
    "top3-interval": "the candidates whose 95% interval after the earlier stages still reaches the top 3",
    "top-half": "the better half (rounded up) of the previous stage's candidates by their mean so far",
    "paired-race": "the leader and the candidates whose paired difference to it on the items both ran is not "
    "significantly below zero (95%, one-sided)",
}
Z95_ONE_SIDED = 1.6448536269514722
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
    if rule == "paired-race":
        return _race(scores, mean)
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


def _race(scores: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``paired-race``: the leader (best mean; ties keep the earlier) stays; each other candidate stays while
    the mean of its paired differences to the leader (item by item, on the items both ran: item difficulty
    cancels) is within a one-sided 95% bound of zero (standard error with ddof 1; 0.5 with fewer than two
    shared items). A candidate with no result is dropped."""
    kept = np.zeros(scores.shape[0], dtype=bool)
    seen = ~np.isnan(mean)
    if not seen.any():
        return kept
    leader = int(np.argmax(np.where(seen, mean, -np.inf)))
    difference = scores - scores[leader][None, :]  # NaN wherever either did not run the item
    shared = np.sum(~np.isnan(difference), axis=1)
    mean_difference = np.where(shared > 0, np.nansum(difference, axis=1) / np.maximum(shared, 1), 0.0)
    deviation = np.where(np.isnan(difference), 0.0, difference - mean_difference[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        stderr = np.where(
            shared > 1,
            np.sqrt(np.sum(deviation**2, axis=1) / np.maximum(shared - 1, 1) / np.maximum(shared, 1)),
            UNKNOWN_STDERR,
        )
    kept = seen & (mean_difference + Z95_ONE_SIDED * stderr >= 0)
    kept[leader] = True
    return kept


def halving_rounds(candidates: int) -> int:
    """Successive halving's rounds: halve (rounding up) until one candidate is left."""
    return max(1, math.ceil(math.log2(max(candidates, 1))))


# ---- adaptive item choice: per candidate, by Fisher information at its current ability ----------------------

PickRule = Literal["information"]
AUDIT_SHARE = 0.25
"""Adaptive plans: the share of the budget spent first on random items for every candidate (the audit slice
whose residuals correct the IRT prediction, and the first ability estimates)."""
ADAPTIVE_STAGES = 3
"""Adaptive plans: the stages after the audit, each with an equal share of the rest of the budget."""
COST_EXPONENT = 0.75
"""How strongly information-per-dollar choice prefers cheap items: information / (predicted dollar ** 0.75)
(the exponent discriminative choice measured best on SWE-bench Verified)."""
NEWTON_STEPS = 12
THETA_BOUND = 6.0


def adaptive_shares() -> list[float]:
    """Cumulative budget shares of an adaptive plan's stages: the audit, then equal adaptive stages."""
    return [
        AUDIT_SHARE,
        *(AUDIT_SHARE + (1 - AUDIT_SHARE) * (k + 1) / ADAPTIVE_STAGES for k in range(ADAPTIVE_STAGES)),
    ]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -30, 30))))


def abilities(
    discrimination: np.ndarray, difficulty: np.ndarray, scores: np.ndarray, run: np.ndarray
) -> np.ndarray:
    """(..., K) maximum a posteriori ability (2PL, standard normal prior, Newton steps) of each of K
    candidates from its ``scores`` (..., K, N) in [0, 1] (soft labels) on the items it ``run``; the item
    parameters are (..., N). With nothing run, the prior's 0. Each candidate's run items are gathered first
    (a budget runs few of a benchmark's items), so the steps cost what was run, not the benchmark's size."""
    shape, n_items = scores.shape[:-1], scores.shape[-1]
    rows, columns = np.nonzero(run.reshape(-1, n_items))
    counts = np.bincount(rows, minlength=int(np.prod(shape)))
    width = max(1, int(counts.max(initial=0)))
    place = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    taken = np.zeros((counts.size, width), dtype=np.int64)
    taken[rows, place] = columns
    weight = np.arange(width)[None, :] < counts[:, None]
    # the item parameters' row for each candidate: they are shared by the K candidates of a replicate
    owner = np.arange(counts.size)[:, None] // shape[-1]
    a = discrimination.reshape(-1, n_items)[owner, taken]
    b = difficulty.reshape(-1, n_items)[owner, taken]
    y = np.where(
        weight, np.nan_to_num(scores.reshape(-1, n_items)[np.arange(counts.size)[:, None], taken]), 0.0
    )
    theta = np.zeros(counts.size)
    for _ in range(NEWTON_STEPS):
        p = sigmoid(a * (theta[:, None] - b))
        gradient = np.sum(np.where(weight, a * (y - p), 0.0), axis=-1) - theta
        curvature = np.sum(np.where(weight, a * a * p * (1 - p), 0.0), axis=-1) + 1.0
        theta = np.clip(theta + gradient / curvature, -THETA_BOUND, THETA_BOUND)
    return theta.reshape(shape)


def information_keys(
    discrimination: np.ndarray, difficulty: np.ndarray, theta: np.ndarray, cost: np.ndarray, run: np.ndarray
) -> np.ndarray:
    """(..., K, N) keys, lowest first, that order each candidate's items by Fisher information at its ability
    ``theta`` (..., K) per predicted dollar ``cost`` (..., N) ** COST_EXPONENT; items it has ``run`` last
    (+inf). Ties keep the benchmark's order (a stable sort of the keys)."""
    a = discrimination[..., None, :]
    p = sigmoid(a * (theta[..., None] - difficulty[..., None, :]))
    per_dollar = a * a * p * (1 - p) / np.maximum(cost[..., None, :], 1e-12) ** COST_EXPONENT
    return np.where(run, np.inf, -per_dollar)


def allowance_prefix(costs: np.ndarray, allowance: np.ndarray) -> np.ndarray:
    """(...,) how many of each row's items, in order, fit its ``allowance`` (...,) whole: the count, as
    ``affordable`` does for one row, for every row at once (``costs`` in the row's order)."""
    return np.sum(within_each(np.cumsum(costs, axis=-1), allowance[..., None]), axis=-1)


DISCRIMINATION_CAP = 1.0
"""Adaptive choice uses discriminations up to 1: choosing items by information seeks out the items whose
discrimination a small history overestimated (trials on the sample store's SWE-bench Verified, half the models
held out at 5%, scored without the audit correction: uncapped, mean tau 0.33; capped at 1, 0.81)."""


def item_parameters(discrimination: np.ndarray, difficulty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted 2PL parameters as adaptive choice uses them (discriminations capped)."""
    return np.minimum(discrimination, DISCRIMINATION_CAP), difficulty


def stage_allowances(money: np.ndarray | float, item_cost: np.ndarray) -> np.ndarray:
    """(..., K) each candidate's share of a stage's ``money`` (..., 1), in proportion to its predicted cost
    of an item ``item_cost`` (..., K): each gets about the same number of items."""
    total = np.sum(item_cost, axis=-1, keepdims=True)
    return np.asarray(np.asarray(money) * item_cost / np.maximum(total, 1e-12))


def adaptive_scores(
    discrimination: np.ndarray,
    difficulty: np.ndarray,
    values: np.ndarray,
    seen: np.ndarray,
    audit: np.ndarray,
    present: np.ndarray,
) -> np.ndarray:
    """(..., K) adaptive testing's full-benchmark scores: each candidate's results ``values`` on the items it
    ran (``seen`` (..., K, N)), the 2PL's predictions at its final ability for the rest of its benchmark
    (``present``), and the difference estimator's correction: the mean residual (shown - predicted) on the
    random ``audit`` slice (..., N), shrunk by empirical Bayes (``shrunk_residuals``), for the share of items
    not run."""
    theta = abilities(discrimination, difficulty, values, seen)
    a = discrimination[..., None, :]
    predicted = sigmoid(a * (theta[..., None] - difficulty[..., None, :]))
    shown = np.where(seen, np.nan_to_num(values), 0.0)
    total = np.maximum(np.sum(present | seen, axis=-1), 1)
    p_irt = (shown.sum(axis=-1) + np.where(present & ~seen, predicted, 0.0).sum(axis=-1)) / total
    in_audit = audit[..., None, :] & seen
    residual = shrunk_residuals(np.where(in_audit, shown - predicted, 0.0), predicted, in_audit)
    unrun = np.sum(present & ~seen, axis=-1) / total
    return np.asarray(np.clip(p_irt + unrun * residual, 0.0, 1.0))


def shrunk_residuals(residuals: np.ndarray, predicted: np.ndarray, in_audit: np.ndarray) -> np.ndarray:
    """(..., K) each candidate's mean audit residual, by empirical Bayes: the shift all candidates share is
    believed as far as it stands out of its sampling noise (positive-part James-Stein), and each candidate's
    departure from it in proportion to the share of the departures' spread that noise cannot explain. The
    noise is the model's own: p(1 - p) per audit item (an upper bound for scores in [0, 1]). No departure is
    moved by more than 1.5 standard errors (limited translation). A few audit items then add little noise; a
    candidate truly unlike the history keeps most of its correction."""
    n = in_audit.sum(axis=-1)
    variance = np.where(in_audit, predicted * (1 - predicted), 0.0)
    mean = residuals.sum(axis=-1) / np.maximum(n, 1)
    noise = variance.sum(axis=-1) / np.maximum(n, 1) ** 2
    count = np.maximum(n.sum(axis=-1), 1)
    common = residuals.sum(axis=(-2, -1)) / count
    common_noise = variance.sum(axis=(-2, -1)) / count**2
    with np.errstate(invalid="ignore", divide="ignore"):
        common = common * np.clip(1 - common_noise / np.maximum(common**2, 1e-300), 0.0, 1.0)
        departure = mean - common[..., None]
        spread = np.maximum(np.mean(departure**2, axis=-1) - np.mean(noise, axis=-1), 0.0)[..., None]
        believed = np.where(spread + noise > 0, spread / (spread + noise), 0.0)
    # limited translation (Efron and Morris): no departure is moved more than 1.5 standard errors, so one
    # candidate far from the rest is not shrunk into them
    reach = 1.5 * np.sqrt(noise)
    kept = np.clip(believed * departure, departure - reach, departure + reach)
    return np.asarray(np.where(n > 0, common[..., None] + kept, 0.0))
