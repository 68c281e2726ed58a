"""Every Eval Ever aggregate records: one JSON per evaluation run (schema 0.2.x), as most of the EEE datastore is.

Fields used, as the schema names them: ``schema_version``, ``evaluation_id``, ``source_metadata``
(``source_name``, ``additional_details.benchmark_slug``), ``model_info`` (``id``, ``additional_details``:
``agent_scaffold``, ``inference_effort``, ``total_cost_usd``, ``benchmark``), and ``evaluation_results``
(``evaluation_name``, ``metric_config.{min_score, max_score, lower_is_better}``, ``score_details.score``).

One aggregate-only run per record: its main result (the one named as the record's benchmark, else the
first) scaled to [0, 1] from the metric's range, with the run's recorded cost where given; the scaffold is
the agent scaffold, with the inference effort in brackets where the record gives one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import json_object, slug


@dataclass(frozen=True)
class RecordRun:
    source: str
    benchmark: str
    model: str
    scaffold: str
    accuracy: float
    total_cost_usd: float | None


def is_eee_record(data: object) -> bool:
    return (
        isinstance(data, dict)
        and "schema_version" in data
        and isinstance(data.get("evaluation_results"), list)
        and isinstance(data.get("model_info"), dict)
    )


def _details(block: object) -> dict[str, Any]:
    return json_object(block, "additional_details")


def read_record(data: dict[str, Any], path: Path) -> RecordRun:
    model_info = data["model_info"]
    model = model_info.get("id") or model_info.get("name")
    if not model:
        raise InputError(f"{path}: model_info names no model ('id' or 'name').")
    qualifier = re.search(r"\(([^()]+)\)\s*$", str(model_info.get("name") or ""))
    if qualifier and model_info.get(
        "id"
    ):  # one id, two releases: deepseek/deepseek-r1 (January 2025), (May 2025)
        model = f"{model} ({qualifier[1]})"
    details = _details(model_info)
    source_meta = json_object(data, "source_metadata")
    results = [r for r in data["evaluation_results"] if isinstance(r, dict)]
    if not results:
        raise InputError(f"{path}: evaluation_results holds no result.")
    named = str(details.get("benchmark") or "")
    main = next((r for r in results if named and r.get("evaluation_name") == named), results[0])
    score = json_object(main, "score_details").get("score")
    config = json_object(main, "metric_config")
    low, high = config.get("min_score", 0.0), config.get("max_score", 1.0)
    if (
        not isinstance(score, int | float)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (score, low, high))
        or high <= low
    ):
        raise InputError(
            f"{path}: evaluation '{main.get('evaluation_name')}' has no numeric score in a range."
        )
    accuracy = (float(score) - low) / (high - low)
    if config.get("lower_is_better"):
        accuracy = 1.0 - accuracy
    if not 0.0 <= accuracy <= 1.0:
        raise InputError(f"{path}: score {score!r} is outside the metric's range [{low}, {high}].")
    cost = details.get("total_cost_usd")
    total_cost: float | None = None
    if cost not in (None, ""):
        try:
            total_cost = float(cost)
        except (TypeError, ValueError):
            raise InputError(f"{path}: total_cost_usd {cost!r} is not a number.") from None
        if not math.isfinite(total_cost) or total_cost < 0:
            raise InputError(f"{path}: total_cost_usd {cost!r} is not a finite number of 0 or more.")
    benchmark = str(
        _details(source_meta).get("benchmark_slug") or slug(str(main.get("evaluation_name") or ""))
    )
    scaffold = str(details.get("agent_scaffold") or "")
    effort = details.get("inference_effort")
    if effort:
        scaffold = f"{scaffold} [{effort}]" if scaffold else f"[{effort}]"
    source = str(source_meta.get("source_name") or data.get("evaluation_id") or path.name)
    return RecordRun(source, benchmark, str(model), scaffold, accuracy, total_cost)
