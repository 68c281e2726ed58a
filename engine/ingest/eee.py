"""Every Eval Ever instance-level files, ``*_samples.jsonl`` (schema instance_level_eval 0.2).

Fields used, as the schema names them: ``evaluation_name``, ``model_id``, ``sample_id``,
``evaluation.score``, ``evaluation.is_correct``, ``token_usage.{input_tokens, output_tokens,
input_tokens_cache_read, input_tokens_cache_write, reasoning_tokens}``, ``performance.latency_ms``, ``error``. A sample id that
appears again for the same model is a repeat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import check_score, iter_jsonl, output_beside_reasoning


def parse_eee(path: Path) -> Iterator[dict[str, Any]]:
    repeats: dict[tuple[str, str, str], int] = {}
    for line, sample in iter_jsonl(path):
        where = f"{path}, line {line}"
        for required in ("evaluation_name", "model_id", "sample_id", "evaluation"):
            if not sample.get(required) and sample.get(required) != 0:
                raise InputError(f"{where}: no '{required}'.")
        evaluation = sample["evaluation"]
        if not isinstance(evaluation, dict):
            raise InputError(f"{where}: 'evaluation' must be an object.")
        error = sample.get("error")
        value = evaluation.get("score")
        if value is None and "is_correct" in evaluation:
            value = bool(evaluation["is_correct"])
        score = None if error else check_score(value, f"{where}, evaluation.score")
        usage = sample.get("token_usage") or {}
        performance = sample.get("performance") or {}
        latency_ms = performance.get("latency_ms")
        key = (str(sample["evaluation_name"]), str(sample["model_id"]), str(sample["sample_id"]))
        repeat = repeats.get(key, 0)
        repeats[key] = repeat + 1
        # the schema's output_tokens are "total output tokens used", reasoning included
        output, reasoning = output_beside_reasoning(usage.get("output_tokens"), usage.get("reasoning_tokens"))
        yield {
            "benchmark": key[0],
            "model": key[1],
            "item_id": key[2],
            "scaffold": "",
            "repeat": repeat,
            "score": score,
            "status": "error" if error else "ok",
            "input_tokens": usage.get("input_tokens"),
            "cached_input_tokens": usage.get("input_tokens_cache_read"),
            "cache_write_tokens": usage.get("input_tokens_cache_write"),
            "output_tokens": output,
            "reasoning_tokens": reasoning,
            "latency_s": None if latency_ms is None else latency_ms / 1000,
        }
