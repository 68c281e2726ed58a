"""A two-parameter logistic IRT model, fitted on history models with numpy (tinyBenchmarks' approach).

P(model h solves item j) = sigmoid(a_j * (theta_h - b_j)). Scores in [0, 1] are used as soft labels, so
graded benchmarks (AlpacaEval preferences) fit too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalbudget.engine.stages import sigmoid

THETA_GRID = np.linspace(-4.0, 4.0, 161)


@dataclass
class IrtModel:
    discrimination: np.ndarray
    """a_j > 0, per item."""
    difficulty: np.ndarray
    """b_j, per item."""
    abilities: np.ndarray
    """theta of each history model."""
    _logs: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def probabilities(self, theta: np.ndarray) -> np.ndarray:
        """(len(theta), items) probabilities of success."""
        return sigmoid(self.discrimination[None, :] * (theta[:, None] - self.difficulty[None, :]))

    def information(self) -> np.ndarray:
        """Fisher information of each item averaged over the history models' abilities."""
        p = self.probabilities(self.abilities)
        return np.mean(self.discrimination[None, :] ** 2 * p * (1 - p), axis=0)

    def _grid_logs(self) -> tuple[np.ndarray, np.ndarray]:
        """log p and log (1 - p) on the ability grid (grid x items), computed once per model."""
        if self._logs is None:
            p = self.probabilities(THETA_GRID)
            self._logs = (np.log(np.clip(p, 1e-9, 1)), np.log(np.clip(1 - p, 1e-9, 1)))
        return self._logs

    def estimate_abilities(self, scores: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """Maximum a posteriori theta (standard normal prior, on a grid) of each row of ``scores`` over its
        ``observed`` items."""
        log_p, log_q = self._grid_logs()
        y = np.where(observed, np.nan_to_num(scores), 0.0)
        weight = observed.astype(np.float64)
        loglik = (y * weight) @ log_p.T + ((1 - y) * weight) @ log_q.T  # rows x grid
        loglik -= 0.5 * THETA_GRID[None, :] ** 2
        return THETA_GRID[np.argmax(loglik, axis=1)]


def fit_2pl(scores: np.ndarray, iterations: int = 250, learning_rate: float = 0.05) -> IrtModel:
    """Fit a_j, b_j and theta_h by gradient ascent on the (soft-label) Bernoulli likelihood with weak priors."""
    observed = ~np.isnan(scores)
    y = np.where(observed, scores, 0.0)
    n_models, n_items = scores.shape
    theta = np.zeros(n_models)
    pass_rate = np.clip(np.nanmean(np.where(observed, scores, np.nan), axis=0), 0.02, 0.98)
    pass_rate = np.where(np.isnan(pass_rate), 0.5, pass_rate)
    difficulty = -np.log(pass_rate / (1 - pass_rate))
    log_a = np.zeros(n_items)
    for _ in range(iterations):
        a = np.exp(log_a)
        p = sigmoid(a[None, :] * (theta[:, None] - difficulty[None, :]))
        residual = np.where(observed, y - p, 0.0)
        grad_theta = (residual * a[None, :]).sum(axis=1) - theta
        grad_b = -(residual * a[None, :]).sum(axis=0) - 0.1 * difficulty
        grad_log_a = (residual * (theta[:, None] - difficulty[None, :])).sum(axis=0) * a - 0.5 * log_a
        theta += learning_rate * grad_theta / max(1, n_items) * 10
        difficulty += learning_rate * grad_b / max(1, n_models)
        log_a = np.clip(log_a + learning_rate * grad_log_a / max(1, n_models), np.log(0.1), np.log(5.0))
        theta -= theta.mean()  # the scale's origin is arbitrary: pin it
    return IrtModel(discrimination=np.exp(log_a), difficulty=difficulty, abilities=theta)
