"""HELM run folders: ``per_instance_stats.json`` with ``run_spec.json`` beside it, and where ``helm-summarize``
has run, the suite's ``schema.json`` one folder up.

Fields used, as HELM writes them: in run_spec.json ``name`` (``scenario:arg=value,...,model=...``),
``groups`` and ``adapter_spec.model``; in the suite's schema.json, each run group's ``display_name`` and
``environment.{main_name, main_split}`` (the leaderboard's main score of the group, and its split); in
per_instance_stats.json, a list of ``{instance_id, train_trial_index, perturbation, stats: [{name: {name,
split, perturbation}, mean}]}``, where one instance may have several entries (one per metric) that are read
as one.

The benchmark is named as HELM's leaderboard (and so Every Eval Ever) names the run group: its display name
slugged (``HellaSwag`` -> ``hellaswag``, not the scenario ``commonsense``); with no schema, the run group's
name. The score is the ``--metric`` given, else the group's main metric, else the first of exact_match,
quasi_exact_match, prefix_exact_match, quasi_prefix_exact_match, f1_score the instances have. Only the
instances of one split are read (``--split``; default the group's main split, else test, else the one split
a run holds stats in, as HELM evaluates HellaSwag on valid only); robustness
perturbations are not the benchmark's own items and are left out. Tokens come from num_prompt_tokens /
num_output_tokens, time from inference_runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import check_score, json_object, read_json_file, slug

SCORE_STATS = (
    "exact_match",
    "quasi_exact_match",
    "prefix_exact_match",
    "quasi_prefix_exact_match",
    "f1_score",
)
DEFAULT_SPLIT = "test"
GENERAL_STATS = ("num_", "max_num_", "finish_reason", "prompt_", "batch_", "inference_", "training_")
"""Prefixes of HELM's general-information and efficiency stats: counts and flags, never a run's score."""


def parse_helm(
    path: Path, *, metric: str | None = None, split: str | None = None
) -> Iterator[dict[str, Any]]:
    spec_path = path.parent / "run_spec.json"
    if not spec_path.exists():
        raise InputError(f"{path}: HELM's run_spec.json must sit beside per_instance_stats.json.")
    spec = read_json_file(spec_path)
    if not isinstance(spec, dict) or not spec.get("name"):
        raise InputError(f"{spec_path}: no run 'name'.")
    scenario, _, arg_text = str(spec["name"]).partition(":")
    variant = ",".join(a for a in arg_text.split(",") if a and not a.startswith("model="))
    model = json_object(spec, "adapter_spec").get("model")
    if not model:
        raise InputError(f"{spec_path}: no adapter_spec.model.")
    groups = [str(g) for g in spec.get("groups") or [] if g]
    group = _main_group(path.parent.parent / "schema.json", groups)
    benchmark = slug(group.get("display_name") or (groups[0] if groups else scenario))
    main_name = json_object(group, "environment").get("main_name")
    chosen = split or json_object(group, "environment").get("main_split")
    split = chosen or DEFAULT_SPLIT
    instances = _instances(path, split)
    present = _splits(path) if not instances else []
    if not instances and not chosen and len(present) == 1:  # no split named: a run of one split is read in it
        split = present[0]
        instances = _instances(path, split)
    if not instances:
        holds = f"; its splits are {', '.join(present)}" if present else ""
        raise InputError(f"{path}: has no instance in the {split!r} split{holds} (choose one with --split).")
    metric = _choose_metric(path, instances, metric, main_name)
    for where, instance_id, trial, stats in instances:
        if metric not in stats:
            raise InputError(f"{where}: has no {metric!r} stat in the {split!r} split.")
        yield {
            "benchmark": benchmark,
            "item_id": f"{variant}/{instance_id}" if variant else instance_id,
            "model": str(model),
            "scaffold": "",
            "repeat": trial,
            "score": check_score(stats[metric], f"{where}, stat '{metric}'"),
            "status": "ok",
            "input_tokens": _whole(stats.get("num_prompt_tokens")),
            "output_tokens": _whole(stats.get("num_output_tokens", stats.get("num_completion_tokens"))),
            "latency_s": stats.get("inference_runtime"),
            "_stratum": variant or None,
        }


def _main_group(schema_path: Path, groups: list[str]) -> dict[str, Any]:
    """The first of the run's groups that the suite's schema describes, or {} with no schema."""
    if not groups or not schema_path.is_file():
        return {}
    schema = read_json_file(schema_path)
    described = {
        g.get("name"): g
        for g in (schema.get("run_groups") if isinstance(schema, dict) else None) or []
        if isinstance(g, dict)
    }
    return next((described[g] for g in groups if g in described), {})


Instance = tuple[str, str, int, dict[str, float]]
"""(where, instance id, train trial, the mean of each stat in the split read)."""


def _instances(path: Path, split: str) -> list[Instance]:
    """The unperturbed instances with stats in ``split``, each trial's entries merged, in file order."""
    entries = read_json_file(path)
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a list of per-instance stats.")
    merged: dict[tuple[str, int], Instance] = {}
    for index, entry in enumerate(entries):
        where = f"{path}, instance {index}"
        if not isinstance(entry, dict) or "instance_id" not in entry:
            raise InputError(f"{where}: no 'instance_id'.")
        if entry.get("perturbation"):  # robustness variants are not the benchmark's own items
            continue
        trial = entry.get("train_trial_index") or 0
        if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:
            raise InputError(f"{where}: train_trial_index {trial!r} is not a whole number of 0 or more.")
        key = (str(entry["instance_id"]), trial)
        stats = merged.setdefault(key, (where, key[0], trial, {}))[3]
        for stat in entry.get("stats") or []:
            name = json_object(stat, "name")
            if name.get("perturbation") or name.get("split", split) != split:
                continue
            mean = stat.get("mean")
            if isinstance(mean, int | float) and not isinstance(mean, bool):
                stats.setdefault(str(name.get("name")), float(mean))
    return [instance for instance in merged.values() if instance[3]]


def _splits(path: Path) -> list[str]:
    """The splits the unperturbed instances have stats in (HELM evaluates hellaswag, say, on valid only)."""
    entries = read_json_file(path)
    found = {
        str(json_object(stat, "name").get("split"))
        for entry in entries if isinstance(entry, dict) and not entry.get("perturbation")
        for stat in entry.get("stats") or []
        if json_object(stat, "name").get("split") and not json_object(stat, "name").get("perturbation")
    }  # fmt: skip
    return sorted(found)


def _choose_metric(path: Path, instances: list[Instance], metric: str | None, main_name: object) -> str:
    present = {name for _, _, _, stats in instances for name in stats}
    if metric is not None:
        if metric not in present:
            raise InputError(f"{path}: --metric {metric!r} is not among its stats ({_scores(instances)}).")
        return metric
    if isinstance(main_name, str) and main_name in present:
        return main_name
    chosen = next((m for m in SCORE_STATS if m in present), None)
    if chosen is None:
        raise InputError(
            f"{path}: has none of the score stats {', '.join(SCORE_STATS)}"
            + (f" nor the group's main metric {main_name!r}" if main_name else "")
            + f"; name one with --metric ({_scores(instances)})."
        )
    return chosen


def _scores(instances: list[Instance]) -> str:
    """The stats that could be a score: every value in [0, 1]."""
    names: dict[str, bool] = {}
    for _, _, _, stats in instances:
        for name, value in stats.items():
            names[name] = names.get(name, True) and 0.0 <= value <= 1.0
    scores = sorted(n for n, ok in names.items() if ok and not n.startswith(GENERAL_STATS))
    return "stats in [0, 1]: " + (", ".join(scores) if scores else "none")


def _whole(value: float | None) -> int | None:
    return None if value is None else round(value)
