"""Which checkpoints of a training run to evaluate: simulated on past series, leaving one series out at a time.

Each series in turn is the new run and the others are its history. A strategy chooses which of the new run's
checkpoints to evaluate and on what share of each task's items; the rest of its learning curve is predicted,
and the prediction is scored against the curve every checkpoint really got.

Strategies (``STRATEGIES``):

- ``all``: every checkpoint, on a share of the items (the budget's share).
- ``uniform``: every k-th checkpoint in step order, the first and the last kept.
- ``log``: checkpoints log-spaced in step (nearest to log-spaced targets), first and last kept.
- ``history``: the checkpoints where the history's curves are hardest to predict, chosen greedily on the history
  (each pick is the one that most lowers the history's own leave-one-out error), first and last kept.

The unevaluated checkpoints are predicted by linear interpolation in training progress (step / final step:
series have different step grids). ``history`` adds a curve-shape prior from the other series: each history
curve, on the new run's progress grid, is fitted to the evaluated points by an affine map (ridge toward the
identity), the fits are averaged with weights falling with their error, and the evaluated points' residuals
from that average are interpolated on top, so the prediction passes through what was observed. That prior is
averaged with a conditional mean: the history's curves as draws of one Gaussian over the checkpoints,
conditioned on the evaluated points (the prior assumes one shape stretched per series; the conditional mean
learns how the checkpoints move together), each weighted at each checkpoint by how well it predicted the
history's own curves there.

A share of items is simulated as finite-population sampling: k of a task's n items drawn without replacement,
so the observed score is hypergeometric around the recorded one. Where several shares fit a budget (fewer
checkpoints on more items, or more on fewer), each strategy picks the share that predicts the history best.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from evalbudget.engine.checkpoints import Curve, SeriesData
from evalbudget.engine.errors import InputError
from evalbudget.engine.sim.metrics import kendall_tau

STRATEGIES: dict[str, str] = {
    "all": "every checkpoint, on the budget's share of the items",
    "uniform": "every k-th checkpoint in step order (first and last kept), interpolated in progress",
    "log": "checkpoints log-spaced in step (first and last kept), interpolated in progress",
    "history": "checkpoints where past curves change most (greedy on the history), predicted from the history's curves",
}
ITEM_FRACTIONS = (1.0, 0.5, 0.25, 0.1)
"""Shares of a task's items a strategy may evaluate each chosen checkpoint on."""
DEFAULT_BUDGETS = ("10%", "20%", "50%")
NOISE_REPLICATES = 20
"""Draws of the item sample where a share of items is evaluated (none are needed on every item)."""
SELECTION_REPLICATES = 4
"""Draws per history curve when choosing the share of items on the history."""
PRIOR_RIDGE = 0.05
"""Pull of each history curve's affine fit toward the identity (offset 0, scale 1): with two or three
evaluated checkpoints the fit would otherwise follow their noise."""
MIN_CHECKPOINTS = 2
PRIOR_TEMPERATURE = 0.3
"""How sharply the prior prefers the history curves that fit the evaluated points: weights fall as
exp(-error / (temperature x the median curve's error)). Low: the nearest few curves; high: all alike."""
PRIOR_TEMPERATURES = (0.1, 0.3, 1.0)
"""The temperatures ``history`` chooses among, on the history, with its checkpoints and share of items."""
ORDER_BLEND_PICKS = 32
"""The greedy order of ``history``'s checkpoints predicts as ``history`` does up to this many picks, and with the
shape prior alone beyond: the conditional mean's solve grows with the cube of the picks, a greedy search
tries every checkpoint at every pick, and the conditional mean adds little where most of the curve is
evaluated."""
COVARIANCE_SHRINK = 0.02
"""How far the history curves' covariance is pulled toward its diagonal before the conditional mean uses it
(a dozen curves on two dozen checkpoints give a rank-deficient one)."""


@dataclass(frozen=True)
class CheckpointResult:
    strategy: str
    budget: str
    checkpoints_per_series: float
    items_fraction: float
    """Mean share of each task's items evaluated per chosen checkpoint."""
    cost_share: float
    """Mean share of the series' full evaluation (every checkpoint, every item) spent."""
    curve_mae_mean: float
    curve_mae_p95: float
    final_score_error: float
    rank_tau: float | None
    """Kendall tau between the series' predicted and real scores at matched progress, averaged over progress."""
    gpu_hours: float | None = None
    """Mean GPU-hours spent per series, where every series' parameter count is known."""

    def as_json(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "budget": self.budget,
            "checkpoints_per_series": {"mean": round(self.checkpoints_per_series, 3)},
            "items_fraction": round(self.items_fraction, 4),
            "cost_share": round(self.cost_share, 4),
            "curve_mae": {"mean": round(self.curve_mae_mean, 5), "p95": round(self.curve_mae_p95, 5)},
            "final_score_error": round(self.final_score_error, 5),
            "rank_tau": None if self.rank_tau is None else round(self.rank_tau, 4),
            "gpu_hours": None if self.gpu_hours is None else round(self.gpu_hours, 4),
        }


@dataclass(frozen=True)
class CheckpointReport:
    benchmark: str
    scaffold: str
    series: list[str]
    results: list[CheckpointResult]
    replicates: int
    seed: int

    def as_json(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "scaffold": self.scaffold,
            "series": self.series,
            "replicates": self.replicates,
            "seed": self.seed,
            "results": [r.as_json() for r in self.results],
        }


@dataclass(frozen=True)
class Choice:
    """What a strategy evaluates of one series: checkpoint indices and the share of items."""

    picks: np.ndarray
    fraction: float
    temperature: float = PRIOR_TEMPERATURE


def curves_on(progress: np.ndarray, curves: list[Curve]) -> np.ndarray:
    """(len(curves), len(progress)): each curve read at ``progress`` (series have their own step grids)."""
    return np.array([np.interp(progress, c.progress, c.scores) for c in curves])


def interpolation_matrix(x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(len(x), len(at)): row i holds the weights linear interpolation gives each of ``at``'s points at x[i]
    (constant beyond the ends, as np.interp)."""
    weights = np.zeros((len(x), len(at)))
    if len(at) == 1:
        weights[:, 0] = 1.0
        return weights
    left = np.clip(np.searchsorted(at, x, side="right") - 1, 0, len(at) - 2)
    share = np.clip((x - at[left]) / (at[left + 1] - at[left]), 0.0, 1.0)
    rows = np.arange(len(x))
    weights[rows, left] = 1.0 - share
    weights[rows, left + 1] += share
    return weights


def shape_prior(
    progress: np.ndarray,
    picks: np.ndarray,
    observed: np.ndarray,
    curves: np.ndarray,
    *,
    own: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    temperature: float = PRIOR_TEMPERATURE,
) -> np.ndarray:
    """Predicted curves (R, N) from ``observed`` (R, m) scores at ``picks`` and history ``curves`` (h, N) on the
    same progress grid; with ``own``, row r's own curve (own[r]) is left out of its prior. ``noise`` (R, m) is
    each observed score's sampling variance where only a share of the items was run: the residuals from the
    prior are then shrunk toward it by the share of their spread that noise explains (James-Stein), so the
    curve does not follow the sample's noise from checkpoint to checkpoint."""
    at = curves[:, picks]  # (h, m)
    m = len(picks)
    ridge = PRIOR_RIDGE
    sx, sxx = at.sum(axis=1), (at * at).sum(axis=1)  # (h,)
    sy = observed.sum(axis=1, keepdims=True)  # (R, 1)
    sxy = observed @ at.T + ridge  # (R, h): ridge x (target scale 1)
    a11, a12, a22 = m + ridge, sx[None, :], sxx[None, :] + ridge
    det = a11 * a22 - a12 * a12
    offset = (a22 * sy - a12 * sxy) / det
    scale = (a11 * sxy - a12 * sy) / det
    fitted = offset[:, :, None] + scale[:, :, None] * at[None, :, :]  # (R, h, m)
    error = ((fitted - observed[:, None, :]) ** 2).mean(axis=2)  # (R, h)
    if own is not None:
        error[np.arange(len(own)), own] = np.inf
    typical = _finite_median(error)[:, None] + 1e-12
    weight = np.exp(-(error - error.min(axis=1, keepdims=True)) / (temperature * typical))
    weight /= weight.sum(axis=1, keepdims=True)
    prior = (weight * offset)[:, :, None] + (weight * scale)[:, :, None] * curves[None, :, :]
    prior = prior.sum(axis=1)  # (R, N)
    residual = observed - prior[:, picks]
    if noise is not None:
        spread = (residual * residual).mean(axis=1, keepdims=True)
        residual = residual * np.clip(
            1.0 - noise.mean(axis=1, keepdims=True) / np.maximum(spread, 1e-12), 0.0, 1.0
        )
    return prior + residual @ interpolation_matrix(progress, progress[picks]).T


def conditional_mean(
    picks: np.ndarray,
    observed: np.ndarray,
    curves: np.ndarray,
    *,
    own: np.ndarray | None = None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """Predicted curves (R, N): the history ``curves`` (h, N) taken as draws of one Gaussian distribution over
    the checkpoints (their mean, and their covariance shrunk toward its diagonal), conditioned on the
    ``observed`` (R, m) scores at ``picks``; ``noise`` (R, m) is each observed score's sampling variance, and
    with ``own``, row r's own curve (own[r]) is left out of the mean and covariance. Where the shape prior maps
    whole curves onto the points, this learns how the checkpoints move together."""
    means, covariances = _moments(curves)  # row h: every curve; row k < h: all but curve k
    keys = np.full(len(observed), len(curves)) if own is None else np.asarray(own)
    groups, inverse = np.unique(keys, return_inverse=True)
    variance = np.zeros((len(groups), len(picks)))
    if noise is not None:  # each group's mean sampling variance
        np.add.at(variance, inverse, noise)
        variance /= np.bincount(inverse, minlength=len(groups))[:, None]
    across = covariances[groups[:, None], picks[None, :], :]  # (groups, m, N): no copy of the N x N ones
    seen = across[:, :, picks] + (variance + 1e-6)[:, :, None] * np.eye(len(picks))
    mean = means[groups][inverse]
    # each row's weights on its observed points (an m x m solve), then their spread over every checkpoint
    weights = np.linalg.solve(seen[inverse], (observed - mean[:, picks])[:, :, None])[:, :, 0]
    return mean + np.einsum("rm,rmn->rn", weights, across[inverse])


_MOMENTS: dict[tuple[tuple[int, ...], bytes], tuple[np.ndarray, np.ndarray]] = {}
MOMENTS_KEPT = 8
"""Histories whose moments are kept: a simulation works through one fold's history at a time, and each entry
holds h + 1 covariances of N x N (a few MB for 154 checkpoints)."""


def _moments(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h + 1, N) means and (h + 1, N, N) shrunk covariances of the curves without each one in turn, then of
    all of them; kept for the history they came from (a simulation asks for the same one many times)."""
    key = (curves.shape, curves.tobytes())
    if key not in _MOMENTS:
        if len(_MOMENTS) >= MOMENTS_KEPT:
            _MOMENTS.pop(next(iter(_MOMENTS)))  # the oldest
        samples = [np.delete(curves, k, axis=0) for k in range(len(curves))] + [curves]
        means = np.array([sample.mean(axis=0) for sample in samples])
        covariances = np.array([np.cov(sample, rowvar=False) for sample in samples]).reshape(
            len(samples), curves.shape[1], curves.shape[1]
        )
        diagonal = np.einsum("knn->kn", covariances)
        covariances = (1 - COVARIANCE_SHRINK) * covariances + COVARIANCE_SHRINK * (
            diagonal[:, :, None] * np.eye(curves.shape[1])
        )
        _MOMENTS[key] = (means, covariances)
    return _MOMENTS[key]


def _finite_median(values: np.ndarray) -> np.ndarray:
    """(R,) each row's median over its finite values (np.nanmedian with inf left out, without its masked-array
    path, which a greedy search calls thousands of times on small arrays); NaN for a row with none."""
    ordered = np.sort(np.where(np.isfinite(values), values, np.inf), axis=1)
    count = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(len(values))
    low = ordered[rows, np.maximum(count - 1, 0) // 2]
    high = ordered[rows, np.maximum(count, 1) // 2 - (count == 0)]
    return np.where(count > 0, (low + high) / 2, np.nan)


def interpolated(progress: np.ndarray, picks: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Curves (R, N) by linear interpolation in progress between the observed (R, m) scores at ``picks``."""
    return observed @ interpolation_matrix(progress, progress[picks]).T


def uniform_picks(n: int, k: int) -> np.ndarray:
    """Every k-th checkpoint in step order: k evenly spaced indices, the first and the last included."""
    return np.unique(np.round(np.linspace(0, n - 1, min(k, n))).astype(int))


def log_picks(steps: np.ndarray, k: int) -> np.ndarray:
    """The checkpoints nearest to k targets log-spaced in step (log of step + 1), each used once."""
    scale = np.log1p(steps.astype(float))
    chosen: list[int] = []
    for target in np.linspace(scale[0], scale[-1], min(k, len(steps))):
        order = np.argsort(np.abs(scale - target), kind="stable")
        chosen.append(next(int(i) for i in order if i not in chosen))
    return np.array(sorted(chosen))


def history_order(progress: np.ndarray, history: np.ndarray, most: int) -> list[int]:
    """Greedy: the first and last checkpoint, then each next one that most lowers the mean leave-one-out error
    of predicting the history's curves (h, N) from the others, as ``history`` predicts (the shape prior alone
    beyond ORDER_BLEND_PICKS picks)."""
    n = history.shape[1]
    order = [0, n - 1] if n > 1 else [0]
    own = np.arange(len(history))
    while len(order) < min(most, n):
        best: tuple[float, int] | None = None
        for j in range(n):
            if j in order:
                continue
            picks = np.array(sorted([*order, j]))
            predicted = (
                _predict("history", progress, picks, history[:, picks], history, own=own)
                if len(picks) <= ORDER_BLEND_PICKS
                else shape_prior(progress, picks, history[:, picks], history, own=own)
            )
            error = float(np.abs(predicted - history).mean())
            if best is None or error < best[0]:
                best = (error, j)
        assert best is not None
        order.append(best[1])
    return order


def observe(
    scores: np.ndarray, items: np.ndarray, fraction: float, rng: np.random.Generator, replicates: int
) -> np.ndarray:
    """(R, m) scores seen on a ``fraction`` of each checkpoint's items, drawn without replacement."""
    if fraction >= 1.0:
        return scores[None, :].copy()
    total = np.maximum(items, 1)
    drawn = np.clip(np.round(fraction * total), 1, total).astype(np.int64)
    good = np.clip(np.round(scores * total), 0, total).astype(np.int64)
    hits = rng.hypergeometric(good, total - good, drawn, size=(replicates, len(scores)))
    return hits / drawn


@dataclass
class _Fold:
    """One series as the new run: its curve and the history's curves on its progress grid."""

    curve: Curve
    history: np.ndarray
    order: list[int] = field(default_factory=list)


def _shares(
    fraction_choices: tuple[float, ...], share: float, n: int, strategy: str
) -> list[tuple[int, float]]:
    """(checkpoints, item share) pairs that spend ``share`` of a series' full cost."""
    if strategy == "all":
        return [(n, min(1.0, share))]
    pairs = []
    for fraction in fraction_choices:
        k = int(np.floor(share * n / fraction + 1e-9))
        if k >= MIN_CHECKPOINTS:
            pairs.append((min(k, n), fraction))
    return pairs or [(MIN_CHECKPOINTS, min(1.0, share * n / MIN_CHECKPOINTS))]


def _order_length(options: list[tuple[int, float]], n: int) -> int:
    """How much of the greedy order the ``options`` can use: an option of every checkpoint needs none of it."""
    return max((k for k, _ in options if k < n), default=MIN_CHECKPOINTS)


def _picks(strategy: str, fold: _Fold, steps: np.ndarray, k: int) -> np.ndarray:
    n = len(steps)
    if strategy == "all" or k >= n:
        return np.arange(n)
    if strategy == "uniform":
        return uniform_picks(n, k)
    if strategy == "log":
        return log_picks(steps, k)
    return np.array(sorted(fold.order[:k]))


def _predict(
    strategy: str,
    progress: np.ndarray,
    picks: np.ndarray,
    observed: np.ndarray,
    history: np.ndarray,
    own: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    temperature: float = PRIOR_TEMPERATURE,
) -> np.ndarray:
    if strategy == "history" and len(history):
        prior = shape_prior(progress, picks, observed, history, own=own, noise=noise, temperature=temperature)
        if len(history) < 3:  # too few curves for a covariance
            return prior
        weight = 0.5 if own is not None else _stacking_weight(progress, picks, history, temperature)
        return (1 - weight) * prior + weight * conditional_mean(
            picks, observed, history, own=own, noise=noise
        )
    return interpolated(progress, picks, observed)


def _stacking_weight(
    progress: np.ndarray, picks: np.ndarray, history: np.ndarray, temperature: float
) -> np.ndarray:
    """(N,) the conditional mean's weight against the shape prior at each checkpoint: each history curve
    predicted from the others at ``picks`` by both, and each weighted by the other's share of the squared
    error there (inverse-variance weights). Predictions of the history itself (``own`` given: choosing the
    checkpoints and the share of items) weigh the two equally instead, which spares a nested leave-one-out."""
    own = np.arange(len(history))
    seen = history[:, picks]
    prior = shape_prior(progress, picks, seen, history, own=own, temperature=temperature)
    conditional = conditional_mean(picks, seen, history, own=own)
    prior_error = ((prior - history) ** 2).mean(axis=0)
    conditional_error = ((conditional - history) ** 2).mean(axis=0)
    total = prior_error + conditional_error
    return np.where(total > 0, prior_error / np.maximum(total, 1e-300), 0.5)


def sampling_variance(observed: np.ndarray, items: np.ndarray, fraction: float) -> np.ndarray | None:
    """Each observed score's variance from running only ``fraction`` of its n items (k drawn without
    replacement: p(1-p)/k x (n-k)/(n-1)); None on every item."""
    if fraction >= 1.0:
        return None
    total = np.maximum(items, 1)
    drawn = np.clip(np.round(fraction * total), 1, total)
    return observed * (1.0 - observed) / drawn * (total - drawn) / np.maximum(total - 1, 1)


def _choose(strategy: str, fold: _Fold, options: list[tuple[int, float]], rng: np.random.Generator) -> Choice:
    """The option (checkpoints, item share, and for ``history`` the prior's temperature) that predicts the
    history's curves best, each history curve predicted from the others (as if it were the new run)."""
    steps, progress, history = fold.curve.steps, fold.curve.progress, fold.history
    temperatures = PRIOR_TEMPERATURES if strategy == "history" else (PRIOR_TEMPERATURE,)
    if (len(options) == 1 and len(temperatures) == 1) or len(history) < 2:
        k, fraction = options[0]
        return Choice(_picks(strategy, fold, steps, k), fraction)
    items = np.broadcast_to(fold.curve.items, history.shape)
    own = np.repeat(np.arange(len(history)), SELECTION_REPLICATES)
    best: tuple[float, Choice] | None = None
    for k, fraction in options:
        picks = _picks(strategy, fold, steps, k)
        reps = 1 if fraction >= 1.0 else SELECTION_REPLICATES
        observed = np.concatenate(
            [observe(history[t, picks], items[t, picks], fraction, rng, reps) for t in range(len(history))]
        )
        mine = own if reps > 1 else np.arange(len(history))
        noise = sampling_variance(observed, items[mine][:, picks], fraction)
        for temperature in temperatures:
            predicted = _predict(
                strategy, progress, picks, observed, history, own=mine, noise=noise, temperature=temperature
            )
            error = float(np.abs(predicted - history[mine]).mean())
            if best is None or error < best[0]:
                best = (error, Choice(picks, fraction, temperature))
    assert best is not None
    return best[1]


def simulate_checkpoints(
    data: SeriesData,
    *,
    strategies: list[str],
    budgets: list[str],
    shares: dict[str, list[float]],
    gpu_hours_per_checkpoint: list[float] | None = None,
    fractions: tuple[float, ...] = ITEM_FRACTIONS,
    replicates: int = NOISE_REPLICATES,
    seed: int = 0,
    groups: list[str] | None = None,
) -> CheckpointReport:
    """Leave-one-series-out: for each strategy and budget (``shares[budget][s]``: the share of series s's full
    cost the budget buys), what the unevaluated part of each series' curve is predicted to be, scored against
    its real curve. With ``groups`` (one label per series), a series' whole group is left out of its history
    (leave-one-group-out: e.g. a size's standard and deduplicated runs, so the new run has no twin)."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise InputError(f"Unknown checkpoint strategy {unknown[0]!r} (known: {', '.join(STRATEGIES)}).")
    curves = data.curves
    folds = []
    for s, curve in enumerate(curves):
        others = [c for j, c in enumerate(curves) if j != s and (groups is None or groups[j] != groups[s])]
        if not others:
            raise InputError(
                f"Series {curve.series!r} has no series left as its history (its group holds them all)."
            )
        folds.append(_Fold(curve, curves_on(curve.progress, others)))
    if "history" in strategies:
        for s, fold in enumerate(folds):
            most = max(
                _order_length(
                    _shares(fractions, shares[budget][s], len(fold.curve), "history"), len(fold.curve)
                )
                for budget in budgets
            )
            fold.order = history_order(fold.curve.progress, fold.history, most)
    grid = np.unique(np.concatenate([c.progress for c in curves]))
    truth_on_grid = curves_on(grid, curves)  # (M, G)
    results = []
    for strategy in strategies:
        for budget in budgets:
            rng = np.random.default_rng([seed, list(STRATEGIES).index(strategy), budgets.index(budget)])
            results.append(
                _simulate_one(
                    strategy,
                    budget,
                    folds,
                    shares[budget],
                    fractions,
                    replicates,
                    rng,
                    grid,
                    truth_on_grid,
                    gpu_hours_per_checkpoint,
                )
            )
    return CheckpointReport(data.benchmark, data.scaffold, data.names, results, replicates, seed)


def _simulate_one(
    strategy: str,
    budget: str,
    folds: list[_Fold],
    shares: list[float],
    fractions: tuple[float, ...],
    replicates: int,
    rng: np.random.Generator,
    grid: np.ndarray,
    truth_on_grid: np.ndarray,
    gpu_hours_per_checkpoint: list[float] | None,
) -> CheckpointResult:
    maes: list[np.ndarray] = []
    finals: list[np.ndarray] = []
    counts, fractions_used, spent, hours = [], [], [], []
    predicted_on_grid = np.empty((replicates, len(folds), len(grid)))
    for s, (fold, share) in enumerate(zip(folds, shares, strict=True)):
        curve = fold.curve
        n = len(curve)
        choice = _choose(strategy, fold, _shares(fractions, share, n, strategy), rng)
        predicted = predicted_draws(strategy, curve, fold.history, choice, rng, replicates)
        errors = np.abs(predicted - curve.scores[None, :])
        maes.append(errors.mean(axis=1))
        finals.append(errors[:, -1])
        drawn = np.clip(np.round(choice.fraction * np.maximum(curve.items, 1)), 1, None) / np.maximum(
            curve.items, 1
        )
        cost = float(drawn[choice.picks].sum() / n) if choice.fraction < 1.0 else len(choice.picks) / n
        counts.append(len(choice.picks))
        fractions_used.append(choice.fraction)
        spent.append(cost)
        if gpu_hours_per_checkpoint is not None:
            hours.append(cost * n * gpu_hours_per_checkpoint[s])
        on_grid = np.array([np.interp(grid, curve.progress, row) for row in predicted])
        predicted_on_grid[:, s, :] = on_grid[np.arange(replicates) % len(on_grid)]
    mae = np.concatenate(maes)
    taus = []
    for g in range(len(grid)):
        truth = truth_on_grid[:, g]
        if np.ptp(truth) > 0:
            taus.append(
                kendall_tau(truth, predicted_on_grid[:, :, g], np.ones_like(predicted_on_grid[:, :, g], bool))
            )
    tau = float(np.nanmean(np.concatenate(taus))) if taus else None
    return CheckpointResult(
        strategy=strategy,
        budget=budget,
        checkpoints_per_series=float(np.mean(counts)),
        items_fraction=float(np.mean(fractions_used)),
        cost_share=float(np.mean(spent)),
        curve_mae_mean=float(mae.mean()),
        curve_mae_p95=float(np.percentile(mae, 95)),
        final_score_error=float(np.concatenate(finals).mean()),
        rank_tau=tau if tau is None or np.isfinite(tau) else None,
        gpu_hours=float(np.mean(hours)) if hours else None,
    )


def format_checkpoint_report(report: CheckpointReport, gpu_type: str) -> str:
    from evalbudget.engine.tables import Col, render_table

    shots = f" ({report.scaffold})" if report.scaffold else ""
    head = (
        f"{report.benchmark}{shots}: {len(report.series)} series, each in turn the new run with the others as its "
        "history; curve error over every checkpoint (the unevaluated ones predicted)"
    )
    table = render_table(
        [
            Col("strategy"),
            Col("budget"),
            Col("checkpoints", right=True),
            Col("items", right=True),
            Col("cost share", right=True),
            Col(f"{gpu_type} gpu-h", right=True),
            Col("curve MAE", right=True),
            Col("p95", right=True),
            Col("final err", right=True),
            Col("rank tau", right=True),
        ],
        (
            (
                r.strategy,
                r.budget,
                f"{r.checkpoints_per_series:.1f}",
                f"{r.items_fraction:.0%}",
                f"{r.cost_share:.1%}",
                "unknown" if r.gpu_hours is None else f"{r.gpu_hours:,.3g}",
                f"{r.curve_mae_mean:.4f}",
                f"{r.curve_mae_p95:.4f}",
                f"{r.final_score_error:.4f}",
                "" if r.rank_tau is None else f"{r.rank_tau:.3f}",
            )
            for r in report.results
        ),
    )
    return f"{head}\n\n{table}"


def choose_checkpoints(
    curve: Curve,
    history: list[Curve],
    strategy: str,
    share: float,
    *,
    fractions: tuple[float, ...] = ITEM_FRACTIONS,
    seed: int = 0,
) -> Choice:
    """What ``strategy`` evaluates of a new run whose planned checkpoints are ``curve``'s steps and progress (its
    scores are not read), with ``history``'s curves as its history, for ``share`` of its full evaluation."""
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown checkpoint strategy {strategy!r} (known: {', '.join(STRATEGIES)}).")
    fold = _Fold(curve, curves_on(curve.progress, history))
    options = _shares(fractions, share, len(curve), strategy)
    if strategy == "history":
        fold.order = history_order(curve.progress, fold.history, _order_length(options, len(curve)))
    return _choose(strategy, fold, options, np.random.default_rng([seed, list(STRATEGIES).index(strategy)]))


def predicted_draws(
    strategy: str,
    curve: Curve,
    history: np.ndarray,
    choice: Choice,
    rng: np.random.Generator,
    replicates: int = NOISE_REPLICATES,
) -> np.ndarray:
    """(R, N) the curves ``strategy`` predicts for ``curve`` from its scores at ``choice``'s checkpoints as
    ``replicates`` draws of the chosen share of items would show them (one row on every item), with the
    ``history`` curves (h, N) on its progress grid."""
    reps = 1 if choice.fraction >= 1.0 else replicates
    observed = observe(curve.scores[choice.picks], curve.items[choice.picks], choice.fraction, rng, reps)
    noise = sampling_variance(observed, curve.items[choice.picks], choice.fraction)
    return _predict(
        strategy,
        curve.progress,
        choice.picks,
        observed,
        history,
        noise=noise,
        temperature=choice.temperature,
    )


def dry_run_error(strategy: str, curve: Curve, history: list[Curve], choice: Choice, seed: int = 0) -> float:
    """The curve MAE of ``choice`` on a run the store holds: its recorded scores at the chosen checkpoints, on
    draws of the chosen share of items, predicted from ``history`` and scored against its whole curve."""
    rng = np.random.default_rng([seed, len(STRATEGIES)])
    predicted = predicted_draws(strategy, curve, curves_on(curve.progress, history), choice, rng)
    return float(np.abs(predicted - curve.scores[None, :]).mean())


def predict_curve(strategy: str, curve: Curve, history: list[Curve], choice: Choice) -> np.ndarray:
    """The curve ``strategy`` predicts for a run whose scores at ``choice``'s checkpoints are ``curve``'s own
    (what evaluating them on every item would show), from ``history``'s curves."""
    every_item = replace(choice, fraction=1.0)  # one row, and no draw: the generator is not used
    shape = curves_on(curve.progress, history)
    return predicted_draws(strategy, curve, shape, every_item, np.random.default_rng(0))[0]
