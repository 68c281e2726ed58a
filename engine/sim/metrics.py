"""Ranking-fidelity metrics, computed for every replicate at once.

Each replicate r has estimates ``est[r]`` for all models and a mask ``candidates[r]`` of the models it
ranks; the truth is each model's full-data score. Kendall's tau is tau-b (ties handled as scipy does).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

_CHUNK_PAIRS = 4_000_000  # replicate x pair products per chunk: bounds memory on 400-model benchmarks


def kendall_tau(truth: np.ndarray, estimates: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """tau-b between ``truth`` (M,) and each row of ``estimates`` (R, M) over that row's candidates."""
    counts = candidates.sum(axis=1)
    if counts.size and not candidates.all() and np.all(counts == counts[0]):
        # every replicate ranks the same number of models (leave-models-out): compare only those, which
        # needs a per-replicate truth but far fewer pairs than masking the whole set
        keep = np.argsort(~candidates, axis=1, kind="stable")[:, : counts[0]]
        return _tau_b(
            np.take_along_axis(np.broadcast_to(truth, estimates.shape), keep, axis=1),
            np.take_along_axis(estimates, keep, axis=1),
        )
    if candidates.all():
        return _tau_b(truth[None, :], estimates)
    masked = np.where(candidates, estimates, np.nan)
    return np.array(
        [_tau_b(truth[None, row], masked[r, row][None, :])[0] for r, row in enumerate(candidates)]
    )


def _tau_b(truth: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """tau-b of each row of ``estimates`` (R, K) against ``truth``, (1, K) shared or (R, K) per row."""
    n_models = estimates.shape[1]
    first, second = np.triu_indices(n_models, k=1)
    shared = truth.shape[0] == 1
    if shared:
        truth_sign = np.sign(truth[0, first] - truth[0, second])
        truth_untied = float(np.count_nonzero(truth_sign))
    replicates = estimates.shape[0]
    out = np.empty(replicates)
    step = max(1, _CHUNK_PAIRS // max(1, len(first)))
    for start in range(0, replicates, step):
        est = estimates[start : start + step]
        est_sign = np.sign(est[:, first] - est[:, second])
        if shared:
            score = est_sign @ truth_sign  # concordant minus discordant pairs
            untied_truth = np.full(est.shape[0], truth_untied)
        else:
            rows = truth[start : start + step]
            row_sign = np.sign(rows[:, first] - rows[:, second])
            score = np.einsum("rp,rp->r", est_sign, row_sign)
            untied_truth = np.count_nonzero(row_sign, axis=1)
        untied_est = np.count_nonzero(est_sign, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + step] = score / np.sqrt(untied_truth * untied_est)
    return out


def _ranks(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1-based rank (best = 1) of each candidate within its replicate; non-candidates get 0."""
    keyed = np.where(mask, values, -np.inf)
    order = np.argsort(-keyed, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(values.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, values.shape[1] + 1)[None, :]
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


def spread(values: np.ndarray) -> Spread:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Spread(mean=float("nan"), p05=float("nan"), p95=float("nan"))
    return Spread(
        mean=float(finite.mean()), p05=float(np.percentile(finite, 5)), p95=float(np.percentile(finite, 95))
    )


def fidelity(truth: np.ndarray, estimates: np.ndarray, candidates: np.ndarray, top_k: int = 3) -> Fidelity:
    tau = kendall_tau(truth, estimates, candidates)
    truth_matrix = np.broadcast_to(truth, estimates.shape)
    truth_ranks = _ranks(truth_matrix, candidates)
    est_ranks = _ranks(estimates, candidates)
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
    )
