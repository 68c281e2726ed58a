"""lm-evaluation-harness results files on their own: one aggregate-only run per task.

A results JSON (``results_<date>.json``, or any name, as the Pythia checkpoint evaluations are published)
holds ``results`` (task -> metric -> value, with ``<metric>_stderr``; newer versions key metrics as
``acc,none``), ``config`` (``model_args`` with ``pretrained=`` and ``revision=``, ``num_fewshot``, ``model``),
and in newer versions ``model_name``, ``n-shot`` and ``n-samples`` (task -> {"original", "effective"}).

Per task: the score is the task's primary metric (the first of PRIMARY_METRICS it reports as a number in
[0, 1], or the one ``--metric`` names); the item count is ``n-samples`` where given, else derived from the
score and its standard error (n = p(1-p)/se^2 + 1, the binomial relation lm-eval's stderr comes from). A task
whose samples file lies beside the results file is left to that file (its items are read one by one).
The checkpoint (``revision=step1000``) is kept: the model is ``<pretrained>@step1000``, in series
``<pretrained>``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import json_object

PRIMARY_METRICS = ("acc", "exact_match", "acc_norm", "mc2", "mc1", "em", "f1", "pass@1", "bleu")
"""Tried in this order for a task's score; the first reported as a number in [0, 1] is used."""
_STEP = re.compile(r"^(?:step|global_step|iter(?:ation)?_?)(\d+)$")


@dataclass(frozen=True)
class AggregateRun:
    benchmark: str
    model: str
    scaffold: str
    accuracy: float
    n_items: int | None
    metric: str


@dataclass(frozen=True)
class ResultsFile:
    model: str
    series: str | None
    step: int | None
    runs: list[AggregateRun]
    skipped_tasks: list[str]
    """Tasks with no usable score (perplexity-only, say): named in the report, not stored."""
    covered_tasks: list[str]
    """Tasks whose samples file lies beside: that file's items are their record."""


def is_results_file(data: object) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("results"), dict)
        and (isinstance(data.get("config"), dict) or "versions" in data or "configs" in data)
    )


def _config(data: dict[str, Any]) -> dict[str, Any]:
    return json_object(data, "config")


def _model_args(config: dict[str, Any]) -> dict[str, str]:
    args = config.get("model_args") or ""
    if isinstance(args, dict):
        return {str(k): str(v) for k, v in args.items()}
    pairs = (part.partition("=") for part in str(args).split(","))
    return {key.strip(): value.strip() for key, _, value in pairs if value}


def model_of(data: dict[str, Any], path: Path) -> tuple[str, str | None, int | None]:
    """(model, series, step): the checkpoint's model name, its training run and step where one is named."""
    args = _model_args(_config(data))
    base = str(data.get("model_name") or args.get("pretrained") or args.get("model") or "")
    if not base:
        raise InputError(
            f"{path}: names no model (neither 'model_name' nor config.model_args 'pretrained='); "
            "give one with --model."
        )
    revision = args.get("revision")
    step_match = _STEP.match(revision) if revision else None
    if revision and revision not in ("main", "master"):
        return f"{base}@{revision}", base if step_match else None, int(step_match[1]) if step_match else None
    return base, None, None


def _metrics(values: dict[str, Any]) -> dict[str, tuple[float, float | None]]:
    """metric -> (value, stderr), for keys written as ``acc`` or ``acc,none`` (the filter after the comma)."""
    found: dict[str, tuple[float, float | None]] = {}
    for key, value in values.items():
        name, _, flt = str(key).partition(",")
        if name.endswith("_stderr") or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if flt not in ("", "none") and name in found:
            continue
        stderr = values.get(f"{name}_stderr,{flt}" if flt else f"{name}_stderr")
        found[name] = (float(value), float(stderr) if isinstance(stderr, int | float) else None)
    return found


def _items(value: float, stderr: float | None, samples: object) -> int | None:
    if isinstance(samples, dict):
        for key in ("effective", "original"):
            if isinstance(samples.get(key), int) and samples[key] > 0:
                return int(samples[key])
    if stderr and stderr > 0 and 0 < value < 1:
        return round(value * (1 - value) / stderr**2 + 1)
    return None


def read_results(data: dict[str, Any], path: Path, *, metric: str | None = None) -> ResultsFile:
    model, series, step = model_of(data, path)
    config = _config(data)
    shots: dict[str, Any] = data["n-shot"] if isinstance(data.get("n-shot"), dict) else {}
    sizes: dict[str, Any] = data["n-samples"] if isinstance(data.get("n-samples"), dict) else {}
    with_samples = {p.name for p in path.parent.glob("samples_*.jsonl")}
    runs: list[AggregateRun] = []
    skipped: list[str] = []
    covered: list[str] = []
    for task, values in sorted(data["results"].items()):
        if not isinstance(values, dict):
            continue
        if any(name.startswith(f"samples_{task}_") for name in with_samples):
            covered.append(str(task))
            continue
        metrics = _metrics(values)
        wanted = [metric] if metric else [m for m in PRIMARY_METRICS if m in metrics]
        chosen = next((m for m in wanted if m in metrics and 0.0 <= metrics[m][0] <= 1.0), None)
        if chosen is None:
            skipped.append(str(task))
            continue
        value, stderr = metrics[chosen]
        fewshot = shots.get(task, config.get("num_fewshot"))
        runs.append(
            AggregateRun(
                benchmark=str(task),
                model=model,
                scaffold=f"{fewshot}-shot" if isinstance(fewshot, int) and fewshot > 0 else "",
                accuracy=value,
                n_items=_items(value, stderr, sizes.get(task)),
                metric=chosen,
            )
        )
    if not runs and skipped:
        what = f"metric '{metric}'" if metric else f"a score in [0, 1] ({', '.join(PRIMARY_METRICS)})"
        raise InputError(f"{path}: no task reports {what}; name the one to use with --metric.")
    for run in runs:
        if not math.isfinite(run.accuracy):
            raise InputError(f"{path}: task '{run.benchmark}' has score {run.accuracy!r}.")
    return ResultsFile(model, series, step, runs, skipped, covered)
