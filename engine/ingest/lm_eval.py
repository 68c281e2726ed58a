"""lm-evaluation-harness ``samples_<task>_<date>.jsonl`` files (written with ``--log_samples``).

Fields used, as lm-eval writes them: ``doc_id``, ``filter``, ``metrics`` (the names of the metrics that
follow as keys of the same object, e.g. ``"acc": 1.0``; older outputs have no such list, only the keys). The model comes from the run's
``results_<date>.json`` beside it (``model_name``, else ``config.model_args`` ``pretrained=``), else from
the folder lm-eval names after the model (``<output_path>/<model_name_sanitized>/``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import check_score, iter_jsonl, read_json_file
from evalbudget.engine.ingest.lm_eval_results import PRIMARY_METRICS

_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+?)(?:_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+))?\.jsonl$")


def _model_name(path: Path, date: str | None) -> str:
    candidates = sorted(path.parent.glob(f"results_{date}.json" if date else "results_*.json"))
    candidates = candidates or sorted(path.parent.glob("results_*.json"))
    for results_path in candidates:
        results = read_json_file(results_path)
        if not isinstance(results, dict):
            continue
        if results.get("model_name"):
            return str(results["model_name"])
        config = results.get("config") or {}
        args = str(config.get("model_args") or "")
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() in ("pretrained", "model") and value:
                return value.strip()
        if config.get("model"):
            return str(config["model"])
    return path.parent.name


def _choose_metric(sample: dict[str, Any], where: str, metric: str | None) -> str:
    """The file's scoring metric, from its first sample: ``metric`` if named, else the first its ``metrics``
    list (or, in older outputs without one, PRIMARY_METRICS) names with a numeric value. A metric written as
    something else (f1 as a prediction/reference pair) is passed over, not fatal; every sample is then held
    to the chosen one."""
    if metric:
        return metric
    listed = sample.get("metrics")
    names = [str(m) for m in listed] if isinstance(listed, list) else []
    for name in [*names, *(m for m in PRIMARY_METRICS if m not in names)]:
        if isinstance(sample.get(name), int | float):
            return name
    raise InputError(
        f"{where}: no numeric score (its metrics, or {', '.join(PRIMARY_METRICS)}); name one with --metric."
    )


def parse_lm_eval(path: Path, metric: str | None = None) -> Iterator[dict[str, Any]]:
    match = _SAMPLES_NAME.match(path.name)
    if not match:
        raise InputError(f"{path}: an lm-eval samples file is named samples_<task>_<date>.jsonl.")
    task = match.group("task")
    model = _model_name(path, match.group("date"))
    repeats: dict[tuple[str, str], int] = {}
    chosen: str | None = None
    for line, sample in iter_jsonl(path):
        where = f"{path}, line {line}"
        if "doc_id" not in sample:
            raise InputError(f"{where}: no 'doc_id'.")
        chosen = chosen or _choose_metric(sample, where, metric)
        if chosen not in sample:
            raise InputError(f"{where}: metric '{chosen}' has no value.")
        score = check_score(sample[chosen], f"{where}, metric '{chosen}'")
        filter_name = str(sample.get("filter") or "none")
        scaffold = "" if filter_name == "none" else f"filter={filter_name}"
        key = (str(sample["doc_id"]), scaffold)
        repeat = repeats.get(key, 0)
        repeats[key] = repeat + 1
        yield {
            "benchmark": task,
            "item_id": str(sample["doc_id"]),
            "model": model,
            "scaffold": scaffold,
            "repeat": repeat,
            "score": score,
            "status": "ok",
        }
