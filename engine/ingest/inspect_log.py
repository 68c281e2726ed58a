"""Inspect AI logs: ``.eval`` (a zip of header.json + samples/*.json) and ``.json`` (one EvalLog object).

Read with the standard library so the app does not need inspect-ai installed. Per sample: ``id``,
``epoch`` (1-based -> repeat 0..), ``scores`` (first scorer; numbers, or C/I/P/N letters), ``model_usage``
(input_tokens, input_tokens_cache_read, input_tokens_cache_write, output_tokens, reasoning_tokens, total_cost),
``total_time``, ``started_at``, ``error`` and ``limit``; the header's ``eval.task`` and ``eval.model``.
"""

from __future__ import annotations

import json
import math
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import (
    check_score,
    is_count,
    json_object,
    output_beside_reasoning,
    read_json_file,
)


def _enable_zstd() -> None:
    """Inspect compresses .eval members with Zstandard, which zipfile reads natively only from Python 3.14."""
    if sys.version_info < (3, 14):
        import zipfile_zstd  # noqa: F401  (patches zipfile on import)


def _samples_from_eval(path: Path) -> tuple[dict[str, Any], Iterator[tuple[str, dict[str, Any]]]]:
    _enable_zstd()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not an Inspect .eval archive ({exc}).") from None
    names = archive.namelist()

    def member(name: str) -> Any:
        try:
            return json.loads(archive.read(name))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}, member {name}, line {exc.lineno}: not valid JSON ({exc.msg})."
            ) from None
        except (zipfile.BadZipFile, OSError, KeyError, NotImplementedError) as exc:
            raise InputError(f"{path}, member {name}: cannot be read ({exc}).") from None

    if "header.json" in names:
        header = member("header.json")
    elif "_journal/start.json" in names:  # a log still being written has no header yet
        header = member("_journal/start.json")
    else:
        raise InputError(f"{path}: an Inspect .eval archive must hold header.json.")

    def samples() -> Iterator[tuple[str, dict[str, Any]]]:
        for name in sorted(n for n in names if n.startswith("samples/") and n.endswith(".json")):
            yield f"{path}, member {name}", member(name)
        archive.close()

    return header, samples()


def _samples_from_json(path: Path) -> tuple[dict[str, Any], Iterator[tuple[str, dict[str, Any]]]]:
    log = read_json_file(path)
    if not isinstance(log, dict) or "eval" not in log:
        raise InputError(f"{path}: not an Inspect log (no 'eval' field).")
    samples = log.get("samples") or []
    return log, ((f"{path}, samples[{i}]", s) for i, s in enumerate(samples))


def _score_value(scores: Any, where: str) -> float | None:
    """The first scorer's value; None where the sample has none, or where the scorer could not score it (Inspect
    writes NaN then, as when a model grader's reply holds no grade)."""
    if not scores:
        return None
    if not isinstance(scores, dict):
        raise InputError(f"{where}: 'scores' must be an object of scorer results.")
    first = next(iter(scores.values()))
    value = first.get("value") if isinstance(first, dict) else first
    if isinstance(value, dict):  # a scorer with several metrics: take its first
        value = next(iter(value.values()), None)
    if isinstance(value, float) and math.isnan(value):
        return None
    return check_score(value, where)


_TOKENS = {
    "input_tokens": "input_tokens",
    "cached_input_tokens": "input_tokens_cache_read",
    "cache_write_tokens": "input_tokens_cache_write",
    "output_tokens": "output_tokens",
    "reasoning_tokens": "reasoning_tokens",
}
"""Our token columns, from Inspect's ModelUsage fields."""


def _tokens(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """The usages' tokens summed; Inspect's output_tokens include the reasoning tokens, the store's do not. A
    count that is not a whole number of 0 or more is passed on as written, for check_amounts to refuse."""
    totals: dict[str, Any] = {}
    for ours, theirs in _TOKENS.items():
        known = [u[theirs] for u in usages if u.get(theirs) is not None]
        odd = next((v for v in known if not is_count(v)), None)
        totals[ours] = odd if odd is not None else (sum(int(v) for v in known) if known else None)
    totals["output_tokens"], totals["reasoning_tokens"] = output_beside_reasoning(
        totals["output_tokens"], totals["reasoning_tokens"]
    )
    return totals


def _usage(model_usage: Any, model: str | None = None) -> dict[str, Any]:
    """A sample's tokens and recorded cost from its ``model_usage`` (one entry per model it called).

    Where the sample also called other models (a model grader, say), the token columns hold ``model``'s own
    usage and ``_other_usage`` the others', each to be priced at its own model's price: summing a grader's
    tokens into the evaluated model's would price them at the wrong rate."""
    usages = (
        {str(k): u for k, u in model_usage.items() if isinstance(u, dict)}
        if isinstance(model_usage, dict)
        else {}
    )
    totals: dict[str, Any] = {**dict.fromkeys(_TOKENS), "cost_usd": None}
    if not usages:
        return totals
    costs = [u.get("total_cost") for u in usages.values()]
    # A cost is recorded only when every model in the sample reported one; a partial sum would be a guess.
    if all(c is not None for c in costs):
        totals["cost_usd"] = sum(float(c) for c in costs if c is not None)
    if model is None or len(usages) == 1:
        return {**totals, **_tokens(list(usages.values()))}
    own = usages.get(model)
    others = {name: _tokens([u]) for name, u in usages.items() if name != model}
    return {**totals, **_tokens([own] if own else []), "_other_usage": others}


def _identity(header: dict[str, Any], path: Path) -> tuple[str, str, str]:
    """(task, model, scaffold) from a log's header."""
    spec = header.get("eval") or {}
    task = str(spec.get("task") or "").split("/")[-1]
    model = spec.get("model")
    if not task or not model:
        raise InputError(f"{path}: the log header names no eval.task or eval.model.")
    scaffold = ""
    plan = header.get("plan") or {}
    steps = [s.get("solver") for s in plan.get("steps") or [] if isinstance(s, dict)]
    if steps and steps != ["generate"]:
        scaffold = "+".join(str(s) for s in steps)
    return task, str(model), scaffold


def is_inspect_log(data: object) -> bool:
    """Whether parsed JSON is an Inspect log, by the fields Inspect requires of one: its ``eval`` spec's task and
    model (``version`` has a default, and a log rewritten by another tool may leave it out)."""
    spec = data.get("eval") if isinstance(data, dict) else None
    return isinstance(spec, dict) and "task" in spec and "model" in spec


@dataclass(frozen=True)
class Headline:
    """What a log with no samples says of its run, from the header."""

    task: str
    model: str
    scaffold: str
    score: float
    items: int | None
    recorded_cost: float | None
    """The sum of every model's ``total_cost`` in ``stats.model_usage``, where each records one."""
    usage: dict[str, dict[str, Any]]
    """Each model's tokens (``stats.model_usage``), to price where no cost is recorded."""
    day: date | None
    """When the run started (``stats.started_at``, else ``eval.created``): the date its prices are read at."""


def header_result(path: Path) -> Headline | None:
    """A log with no samples (cancelled, or written with --no-log-samples): its headline metric, dataset size
    and model usage; None if the header has no score to give."""
    header, _ = _samples_from_eval(path) if path.suffix == ".eval" else _samples_from_json(path)
    task, model, scaffold = _identity(header, path)
    results = json_object(header, "results")
    headline = json_object(results, "headline")
    wanted = str(headline.get("metric") or "accuracy")
    for scorer in results.get("scores") or []:
        metrics = scorer.get("metrics") if isinstance(scorer, dict) else None
        metric = metrics.get(wanted) if isinstance(metrics, dict) else None
        value = metric.get("value") if isinstance(metric, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
            break
    else:
        return None
    spec = json_object(header, "eval")
    dataset = json_object(spec, "dataset")
    items = dataset.get("samples") if isinstance(dataset.get("samples"), int) else None
    stats = json_object(header, "stats")
    model_usage = stats.get("model_usage")
    usage = (
        {str(name): _tokens([u]) for name, u in model_usage.items() if isinstance(u, dict)}
        if isinstance(model_usage, dict)
        else {}
    )
    return Headline(
        task, model, scaffold, float(value), items, _usage(model_usage)["cost_usd"], usage,
        _day(stats.get("started_at") or spec.get("created")),
    )  # fmt: skip


def _day(value: object) -> date | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date() if value else None
    except ValueError:
        return None


def parse_inspect(path: Path) -> Iterator[dict[str, Any]]:
    """Yield one rollout dict per sample of the log."""
    header, samples = _samples_from_eval(path) if path.suffix == ".eval" else _samples_from_json(path)
    task, model, scaffold = _identity(header, path)
    for where, sample in samples:
        if not isinstance(sample, dict) or "id" not in sample:
            raise InputError(f"{where}: a sample must be an object with an 'id'.")
        error = sample.get("error")
        limit = sample.get("limit")
        score = None if error else _score_value(sample.get("scores"), where)
        epoch = sample.get("epoch") or 1
        if not isinstance(epoch, int) or epoch < 1:
            raise InputError(f"{where}: epoch {epoch!r} is not a positive whole number.")
        yield {
            "benchmark": task,
            "item_id": str(sample["id"]),
            "model": str(model),
            "scaffold": scaffold,
            "repeat": epoch - 1,
            "score": score,
            # a sample its scorer could not score (a NaN value) yielded no result, like one that failed
            "status": "error"
            if error or (score is None and sample.get("scores"))
            else ("limit" if limit else "ok"),
            **_usage(sample.get("model_usage"), str(model)),
            "latency_s": sample.get("total_time"),
            "started_at": sample.get("started_at"),
        }
