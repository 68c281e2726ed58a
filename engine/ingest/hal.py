"""HAL (Holistic Agent Leaderboard) harness ``<run_id>_UPLOAD.json`` files.

Fields used, as hal-harness writes them (hal/benchmarks/base_benchmark.py, process_results):
``config.{agent_name, benchmark_name, run_id, date, agent_args.model_name}``,
``results.{successful_tasks, failed_tasks, latencies.<task>.total_time}``, ``total_cost`` and
``total_usage.<model>``. HAL records cost for the whole run only, so rollouts stay unpriced and the run
keeps the recorded total.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import read_json_file


def read_hal(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """(run fields, rollouts) of one upload file."""
    upload = read_json_file(path)
    if not isinstance(upload, dict) or not isinstance(upload.get("config"), dict):
        raise InputError(f"{path}: not a HAL upload (no 'config' object).")
    config = upload["config"]
    results = upload.get("results")
    if not isinstance(results, dict):
        raise InputError(f"{path}: not a HAL upload (no 'results' object).")
    benchmark = config.get("benchmark_name")
    if not benchmark:
        raise InputError(f"{path}: config.benchmark_name is missing.")
    agent_args = config.get("agent_args") or {}
    usage = upload.get("total_usage") or {}
    model = agent_args.get("model_name") or (next(iter(usage)) if len(usage) == 1 else None)
    if not model:
        raise InputError(
            f"{path}: config.agent_args.model_name is missing and total_usage names no single model."
        )
    succeeded = results.get("successful_tasks")
    failed = results.get("failed_tasks")
    if not isinstance(succeeded, list) or not isinstance(failed, list):
        raise InputError(
            f"{path}: results.successful_tasks and results.failed_tasks must be lists of task ids."
        )
    latencies = results.get("latencies") or {}
    total_cost = upload.get("total_cost", results.get("total_cost"))
    run = {
        "source": f"hal:{config.get('run_id') or path.stem}",
        "total_cost_usd": float(total_cost) if isinstance(total_cost, int | float) else None,
        "started_at": config.get("date"),
    }

    def rollouts() -> Iterator[dict[str, Any]]:
        for score, tasks in ((1.0, succeeded), (0.0, failed)):
            for task in tasks:
                latency = latencies.get(str(task)) if isinstance(latencies, dict) else None
                yield {
                    "benchmark": str(benchmark),
                    "item_id": str(task),
                    "model": str(model),
                    "scaffold": str(config.get("agent_name") or ""),
                    "repeat": 0,
                    "score": score,
                    "status": "ok",
                    "latency_s": latency.get("total_time") if isinstance(latency, dict) else None,
                }

    return run, rollouts()
