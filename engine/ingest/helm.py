"""HELM run folders: ``per_instance_stats.json`` with ``run_spec.json`` beside it.

Fields used, as HELM writes them: in run_spec.json ``name`` (``scenario:arg=value,...,model=...``) and
``adapter_spec.model``; in per_instance_stats.json, a list of ``{instance_id, train_trial_index,
perturbation, stats: [{name: {name, split, perturbation}, mean, count}]}``. The score is the mean of the
first of exact_match, quasi_exact_match, prefix_exact_match, quasi_prefix_exact_match, f1_score that the
instance has; tokens from num_prompt_tokens / num_output_tokens, time from inference_runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import check_score, read_json_file

SCORE_STATS = (
    "exact_match",
    "quasi_exact_match",
    "prefix_exact_match",
    "quasi_prefix_exact_match",
    "f1_score",
)


def parse_helm(path: Path) -> Iterator[dict[str, Any]]:
    spec_path = path.parent / "run_spec.json"
    if not spec_path.exists():
        raise InputError(f"{path}: HELM's run_spec.json must sit beside per_instance_stats.json.")
    spec = read_json_file(spec_path)
    if not isinstance(spec, dict) or not spec.get("name"):
        raise InputError(f"{spec_path}: no run 'name'.")
    scenario, _, arg_text = str(spec["name"]).partition(":")
    args = [a for a in arg_text.split(",") if a and not a.startswith("model=")]
    variant = ",".join(args)
    model = (spec.get("adapter_spec") or {}).get("model")
    if not model:
        raise InputError(f"{spec_path}: no adapter_spec.model.")
    instances = read_json_file(path)
    if not isinstance(instances, list):
        raise InputError(f"{path}: expected a list of per-instance stats.")
    for index, instance in enumerate(instances):
        where = f"{path}, instance {index}"
        if not isinstance(instance, dict) or "instance_id" not in instance:
            raise InputError(f"{where}: no 'instance_id'.")
        if instance.get("perturbation"):  # robustness variants are not the benchmark's own items
            continue
        stats: dict[str, float] = {}
        for stat in instance.get("stats") or []:
            name = (stat.get("name") or {}) if isinstance(stat, dict) else {}
            if name.get("perturbation") or "mean" not in stat:
                continue
            stats.setdefault(str(name.get("name")), stat["mean"])
        metric = next((m for m in SCORE_STATS if m in stats), None)
        if metric is None:
            raise InputError(f"{where}: has none of the score stats {', '.join(SCORE_STATS)}.")
        instance_id = str(instance["instance_id"])
        yield {
            "benchmark": scenario,
            "item_id": f"{variant}/{instance_id}" if variant else instance_id,
            "model": str(model),
            "scaffold": "",
            "repeat": int(instance.get("train_trial_index") or 0),
            "score": check_score(stats[metric], f"{where}, stat '{metric}'"),
            "status": "ok",
            "input_tokens": _whole(stats.get("num_prompt_tokens")),
            "output_tokens": _whole(stats.get("num_output_tokens", stats.get("num_completion_tokens"))),
            "latency_s": stats.get("inference_runtime"),
            "_stratum": variant or None,
        }


def _whole(value: float | None) -> int | None:
    return None if value is None else round(value)
