"""HAL (Holistic Agent Leaderboard) harness ``<run_id>_UPLOAD.json`` files.

Fields used, as hal-harness writes them (hal/benchmarks/base_benchmark.py, process_results, and the files
of its own tests): ``config.{agent_name, benchmark_name, run_id, date, agent_args.model_name}`` (or
``metadata.{run_id, agent_args}`` where ``config`` is empty); per task, ``results.successful_tasks`` /
``results.failed_tasks`` where the benchmark lists them, else ``raw_eval_results.<task>`` (its ``reward`` or
``score``, a list of them for prompt variations, which become repeats); ``results.costs.<task>`` or
``raw_eval_results.<task>.cost`` as the task's recorded cost; ``results.latencies.<task>`` (seconds, or
``total_time``); the tokens of each task from ``raw_logging_results[].summary.usage.<model>``
(``prompt_tokens``/``completion_tokens``, keyed by ``weave_task_id``), or in newer uploads from
``raw_logging_results.<task>.call_metadata[].usage`` with ``call_count`` as its LLM calls; and the run's
``total_cost``.
``--benchmark`` and ``--model`` fill what a file does not name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import check_score, is_count, json_object, read_json_file

SCORE_KEYS = ("reward", "score")


def is_hal_upload(data: object) -> bool:
    return (
        isinstance(data, dict) and isinstance(data.get("raw_eval_results"), dict | list) and "results" in data
    )


def read_hal(
    path: Path, *, benchmark: str | None = None, model: str | None = None
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """(run fields, rollouts) of one upload file."""
    upload = read_json_file(path)
    if not isinstance(upload, dict) or not isinstance(upload.get("results"), dict):
        raise InputError(f"{path}: not a HAL upload (no 'results' object).")
    config, metadata, results = (json_object(upload, k) for k in ("config", "metadata", "results"))
    named_benchmark = config.get("benchmark_name") or benchmark
    if not named_benchmark:
        raise InputError(
            f"{path}: names no benchmark (config.benchmark_name); give one with --benchmark NAME."
        )
    agent_args = json_object(config, "agent_args") or json_object(metadata, "agent_args")
    tokens, used_models = _task_tokens(upload, path)
    named_model = agent_args.get("model_name") or model or (used_models[0] if len(used_models) == 1 else None)
    if not named_model:
        seen = f" (its usage names {', '.join(used_models)})" if used_models else ""
        raise InputError(
            f"{path}: names no model (config.agent_args.model_name){seen}; give one with --model NAME."
        )
    scores = _task_scores(upload, results, path)
    costs = _per_task(results.get("costs"), upload.get("raw_eval_results"), "cost")
    latencies = json_object(results, "latencies")
    total_cost = upload.get("total_cost", results.get("total_cost"))
    run = {
        "source": f"hal:{config.get('run_id') or metadata.get('run_id') or path.stem}",
        "total_cost_usd": float(total_cost) if isinstance(total_cost, int | float) else None,
    }
    scaffold = str(config.get("agent_name") or "")

    def rollouts() -> Iterator[dict[str, Any]]:
        for task, attempts in scores.items():
            for repeat, score in enumerate(attempts):
                used = tokens.get(task, {}) if repeat == 0 else {}
                yield {
                    "benchmark": str(named_benchmark),
                    "item_id": task,
                    "model": str(named_model),
                    "scaffold": scaffold,
                    "repeat": repeat,
                    "score": score,
                    "status": "ok",
                    "input_tokens": used.get("input"),
                    "output_tokens": used.get("output"),
                    "api_calls": used.get("calls"),
                    "cost_usd": costs.get(task) if len(attempts) == 1 else None,
                    "latency_s": _seconds(latencies.get(task)) if len(attempts) == 1 else None,
                    "started_at": config.get("date"),
                }

    return run, rollouts()


def _task_scores(upload: dict[str, Any], results: dict[str, Any], path: Path) -> dict[str, list[float]]:
    """Each task's scores (one per attempt): the lists of succeeded and failed tasks where the benchmark
    writes them, else each raw result's reward or score."""
    succeeded, failed = results.get("successful_tasks"), results.get("failed_tasks")
    if isinstance(succeeded, list) and isinstance(failed, list):
        return {str(t): [1.0] for t in succeeded} | {str(t): [0.0] for t in failed}
    raw = upload.get("raw_eval_results")
    if not isinstance(raw, dict) or not raw:
        raise InputError(
            f"{path}: has no per-task results (results.successful_tasks and failed_tasks, or "
            "raw_eval_results by task)."
        )
    scores: dict[str, list[float]] = {}
    for task, outcome in raw.items():
        where = f"{path}, raw_eval_results.{task}"
        attempts = outcome if isinstance(outcome, list) else [outcome]
        scores[str(task)] = [_score(attempt, where) for attempt in attempts]
    return scores


def _score(outcome: object, where: str) -> float:
    if isinstance(outcome, dict):
        key = next((k for k in SCORE_KEYS if k in outcome), None)
        if key is None:
            raise InputError(f"{where}: has no {' or '.join(SCORE_KEYS)}.")
        outcome, where = outcome[key], f"{where}.{key}"
    score = check_score(outcome, where)
    if score is None:
        raise InputError(f"{where}: has no score.")
    return score


def _per_task(by_task: object, raw: object, key: str) -> dict[str, Any]:
    """A per-task value from ``results.<name>`` (task -> value), else from each raw result's ``key``."""
    if isinstance(by_task, dict):
        return {str(t): v for t, v in by_task.items()}
    if isinstance(raw, dict):
        return {str(t): r[key] for t, r in raw.items() if isinstance(r, dict) and key in r}
    return {}


def _seconds(latency: object) -> float | None:
    if isinstance(latency, dict):
        latency = latency.get("total_time")
    return float(latency) if isinstance(latency, int | float) and not isinstance(latency, bool) else None


def _task_tokens(upload: dict[str, Any], path: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Tokens per task summed over its logged calls (and how many calls, where the upload counts them), and the
    models the run's usage names. hal-harness has written ``raw_logging_results`` two ways: a list of Weave
    calls, each with ``weave_task_id`` and ``summary.usage.<model>``; and (since its compact traces) an object
    by task, ``{model, call_count, call_metadata: [{usage}]}``."""
    per_task: dict[str, dict[str, int]] = {}
    models: set[str] = set(json_object(upload, "total_usage"))
    calls = upload.get("raw_logging_results")
    for index, call in enumerate(calls if isinstance(calls, list) else []):
        usage = json_object(json_object(call, "summary"), "usage")
        task = call.get("weave_task_id") if isinstance(call, dict) else None
        for model_name, counts in usage.items():
            models.add(str(model_name))
            if task is not None and isinstance(counts, dict):
                where = f"{path}, raw_logging_results[{index}]: {model_name} usage"
                _add_usage(per_task.setdefault(str(task), {}), counts, where)
    for task, entry in (calls if isinstance(calls, dict) else {}).items():
        if not isinstance(entry, dict):
            continue
        if entry.get("model"):
            models.add(str(entry["model"]))
        used = per_task.setdefault(str(task), {})
        for index, meta in enumerate(entry.get("call_metadata") or []):
            counts = json_object(meta, "usage")
            if counts:
                _add_usage(used, counts, f"{path}, raw_logging_results.{task}.call_metadata[{index}]: usage")
        count = entry.get("call_count")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            used["calls"] = count
    return per_task, sorted(models)


def _add_usage(used: dict[str, int], counts: dict[str, Any], where: str) -> None:
    """Add one call's (or model's) prompt and completion tokens to a task's; a count that is not a whole number
    of 0 or more is refused, naming ``where``."""
    for side, keys in (
        ("input", ("prompt_tokens", "input_tokens")),
        ("output", ("completion_tokens", "output_tokens")),
    ):
        value = next((counts[k] for k in keys if k in counts), 0)
        if not is_count(value):
            raise InputError(f"{where} {keys[0]} {value!r} is not a whole number of 0 or more.")
        used[side] = used.get(side, 0) + int(value)
