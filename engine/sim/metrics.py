"""Ranking-fidelity metrics, computed for every replicate at once.

Each replicate r has estimates ``est[r]`` for all models and a mask ``candidates[r]`` of the models it
ranks; the truth is each model's full-data score. Kendall's tau is tau-b (ties handled as scipy does).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from evalbudget.engine.sim.rows import MIN_ROW_CELLS, by_rows

_CHUNK_PAIRS = 4_000_000  # replicate x pair products per chunk: bounds memory on 400-model benchmarks


def kendall_tau(truth: np.ndarray, estimates: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """tau-b between ``truth`` (M,) and each row of ``estimates`` (R, M) over that row's candidates."""
    counts = candidates.sum(axis=1)
    by_truth = np.argsort(-truth, kind="stable")
    if counts.size and np.all(counts == counts[0]):
        # every replicate ranks the same number of models: take each row's candidates in the truth's order
        if counts[0] == candidates.shape[1]:
            keep = np.broadcast_to(by_truth, candidates.shape)
        else:
            # nonzero walks row by row, left to right: each row's candidates in the truth's order, no sort
            keep = by_truth[np.nonzero(candidates[:, by_truth])[1].reshape(-1, counts[0])]
        # tau costs K^2 per row: worth splitting over the cores once rows x K^2 is large
        return by_rows(
            _tau_b,
            truth[keep],
            np.take_along_axis(estimates, keep, axis=1),
            min_cells=MIN_ROW_CELLS // counts[0],
        )
    return np.array(
        [
            _tau_b(truth[None, by_truth[row[by_truth]]], estimates[r, by_truth[row[by_truth]]][None, :])[0]
            for r, row in enumerate(candidates)
        ]
    )


def _tau_b(truth: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """tau-b of each row of ``estimates`` (R, K) against the same row of ``truth`` (R, K), whose rows are in
    descending order: then a pair (i < j) is concordant when the estimate of i is the higher, and the only
    pairs the truth leaves tied are those of equal truth. A row with a NaN estimate gets NaN, as scipy's."""
    replicates, n_models = estimates.shape
    truth_ties = bool(np.any(truth[:, 1:] == truth[:, :-1]))
    score = np.zeros(replicates, dtype=np.int64)
    untied_est = np.zeros(replicates, dtype=np.int64)
    untied_truth = np.full(replicates, n_models * (n_models - 1) // 2, dtype=np.int64)
    step = max(1, _CHUNK_PAIRS // max(1, n_models))
    for start in range(0, replicates, step):
        rows = slice(start, start + step)
        # models as rows: model i against all after it is a contiguous block per comparison
        est = np.ascontiguousarray(estimates[rows].T)
        tru = np.ascontiguousarray(truth[rows].T) if truth_ties else None
        for i in range(n_models - 1):
            # 1 where the estimate ranks model i above a later model, -1 below, 0 tied (int8: a quarter of
            # the memory traffic of float signs)
            higher = (est[i + 1 :] < est[i]).view(np.int8)
            lower = (est[i + 1 :] > est[i]).view(np.int8)
            untied_est[rows] += np.bitwise_or(higher, lower).sum(axis=0, dtype=np.int64)
            if tru is not None:
                strict = (tru[i + 1 :] < tru[i]).view(np.int8)
                higher = higher & strict
                lower = lower & strict
                untied_truth[rows] -= strict.shape[0] - strict.sum(axis=0, dtype=np.int64)
            score[rows] += np.subtract(higher, lower, dtype=np.int8).sum(axis=0, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = score / np.sqrt(untied_truth.astype(np.float64) * untied_est)
    return np.where(np.isnan(estimates).any(axis=1), np.nan, tau)


def separated(
    truth: np.ndarray, estimates: np.ndarray, candidates: np.ndarray, difference: float
) -> np.ndarray:
    """(R,) per replicate, the share of its candidate pairs at least ``difference`` apart on the full data
    that the estimates order the right way round (a tie counts half); NaN where no pair is that far apart."""
    by_truth = np.argsort(-truth, kind="stable")
    right = np.zeros(estimates.shape[0])
    pairs = np.zeros(estimates.shape[0])
    ordered_truth = truth[by_truth]
    ordered = estimates[:, by_truth]
    member = candidates[:, by_truth]
    for i in range(by_truth.size - 1):
        # model i (in the truth's order) against every later one that is at least `difference` below it
        gap = ordered_truth[i] - ordered_truth[i + 1 :]
        # equal truth has no right order
        apart = ((gap >= difference) & (gap > 0))[None, :] & member[:, i + 1 :]
        apart &= member[:, i : i + 1]
        higher = ordered[:, i : i + 1] > ordered[:, i + 1 :]
        tied = ordered[:, i : i + 1] == ordered[:, i + 1 :]
        right += np.sum(apart & higher, axis=1) + 0.5 * np.sum(apart & tied, axis=1)
        pairs += np.sum(apart, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, right / np.maximum(pairs, 1), np.nan)


def _ranks(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1-based rank (best = 1) of each candidate within its replicate; non-candidates get 0."""
    keyed = np.where(mask, values, -np.inf)
    order = np.argsort(-keyed, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(values.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, values.shape[1] + 1)[None, :]
    return np.where(mask, ranks, 0)


def _truth_ranks(truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``_ranks`` of the one truth shared by every row, without a sort per row: in the truth's (stable) order
    a candidate's rank is how many candidates come up to it."""
    by_truth = np.argsort(-truth, kind="stable")
    ranks = np.empty(mask.shape, dtype=np.int64)
    ranks[:, by_truth] = np.cumsum(mask[:, by_truth], axis=1)
    return np.where(mask, ranks, 0)


class Spread(BaseModel):
    mean: float
    p05: float
    p95: float


class Fidelity(BaseModel):
    kendall_tau: Spread
    top1_recovery: float
    """Share of replicates whose best estimated candidate is a best candidate on the full data."""
    topk_overlap: float
    """Mean share of the full-data top k (k = 3, or fewer candidates) found in the estimated top k."""
    mae: float
    """Mean absolute error of the estimated scores."""
    max_rank_displacement: float
    """Mean over replicates of the largest rank change of any candidate."""
    dior: float
    """Lower end of the 95% interval of tau (Flash-HELM's DIoR)."""
    separated: float | None = None
    """With a difference d asked for: the mean share of candidate pairs at least d apart on the full data
    that the estimates order the right way round."""


def spread(values: np.ndarray) -> Spread:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Spread(mean=float("nan"), p05=float("nan"), p95=float("nan"))
    p05, p95 = np.percentile(finite, [5, 95])
    return Spread(mean=float(finite.mean()), p05=float(p05), p95=float(p95))


def fidelity(
    truth: np.ndarray,
    estimates: np.ndarray,
    candidates: np.ndarray,
    top_k: int = 3,
    separate: float | None = None,
) -> Fidelity:
    tau = kendall_tau(truth, estimates, candidates)
    truth_matrix = np.broadcast_to(truth, estimates.shape)
    truth_ranks = _truth_ranks(truth, candidates)
    est_ranks = by_rows(_ranks, estimates, candidates, min_cells=MIN_ROW_CELLS // 10)
    n_candidates = candidates.sum(axis=1)
    k = np.minimum(top_k, n_candidates)
    best_truth = np.where(candidates, truth_matrix, -np.inf).max(axis=1)
    est_best = np.argmax(np.where(candidates, estimates, -np.inf), axis=1)
    top1 = np.isclose(truth_matrix[np.arange(len(est_best)), est_best], best_truth)
    in_top_truth = candidates & (truth_ranks <= k[:, None])
    in_top_est = candidates & (est_ranks <= k[:, None])
    overlap = np.sum(in_top_truth & in_top_est, axis=1) / np.maximum(k, 1)
    error = np.abs(np.where(candidates, estimates - truth_matrix, 0.0))
    mae = error.sum(axis=1) / np.maximum(n_candidates, 1)
    displacement = np.abs(truth_ranks - est_ranks).max(axis=1)
    finite_tau = tau[np.isfinite(tau)]
    return Fidelity(
        kendall_tau=spread(tau),
        top1_recovery=float(top1.mean()),
        topk_overlap=float(overlap.mean()),
        mae=float(mae.mean()),
        max_rank_displacement=float(displacement.mean()),
        dior=float(np.percentile(finite_tau, 2.5)) if finite_tau.size else float("nan"),
        separated=None
        if separate is None
        else _mean_or_nan(separated(truth, estimates, candidates, separate)),
    )


def _mean_or_nan(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")
