"""From a launch's options to its backend: one place for the CLI and the app, so both check the same things
and say the same sentence when something is missing."""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import ValidationError

from evalbudget.engine.errors import EvalbudgetError, InputError
from evalbudget.engine.launch.backends import Backend, OpenAIBackend, ReplayBackend
from evalbudget.engine.launch.inspect_backend import InspectBackend
from evalbudget.engine.launch.options import LaunchOptions, flag_of, label_of
from evalbudget.engine.launch.ray_pool import RayPool
from evalbudget.engine.launch.vllm_backend import VllmBackend
from evalbudget.engine.plan import Plan
from evalbudget.engine.prices import gpu_card, launch_price_cards, load_price_book


def read_plan(path: Path) -> tuple[Plan, str]:
    """The plan in ``path`` and its text (the text is part of the launch's run id); a file that is not a
    plan is refused in one sentence naming the field."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise EvalbudgetError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        return Plan.model_validate_json(text), text
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InputError(
            f"{path}: not a plan (field '{field}': {first['msg'].removeprefix('Value error, ').lower()})."
        ) from None


def spend_cap(plan: Plan, max_spend: float | None) -> float | None:
    """The launch's hard cap: ``max_spend``, else the plan's budget where it is in dollars (else none)."""
    cap = max_spend if max_spend is not None else (plan.budget_units if plan.cost_unit == "usd" else None)
    if cap is not None and not (cap >= 0 and math.isfinite(cap)):
        raise InputError("--max-spend must be a finite number of dollars, 0 or more.")
    return cap


def check_model_map(options: LaunchOptions, plan: Plan, *, naming: Literal["flag", "label"] = "flag") -> None:
    """Each model the map names is one the plan runs (a refusal names the flag, or the app's field)."""
    unknown = sorted(set(options.model_map) - {c.model for s in plan.stages for c in s.models})
    if unknown:
        where = flag_of("model_map") if naming == "flag" else f"The {label_of('model_map')}"
        raise InputError(f"{where} names {unknown[0]!r}, which the plan does not run.")


def _beside_python(command: str, program: str) -> str:
    """``program`` as given when it is on PATH, else the one installed beside this Python (the same venv,
    which is where `pip install evalbudget[test]` put Inspect), so an app started from the venv finds it."""
    if command == program and shutil.which(program) is None:
        beside = Path(sys.executable).with_name(program)
        if beside.exists():
            return str(beside)
    return command


def make_backend(conn: duckdb.DuckDBPyConnection, plan: Plan, run_id: str, options: LaunchOptions) -> Backend:
    models = {c.model for s in plan.stages for c in s.models}
    if options.backend == "replay":
        return ReplayBackend(conn, plan.benchmark, exclude_run=run_id)
    if options.backend == "vllm":
        assert options.gpu_type, "launch_options checks what each backend needs"
        gpu = gpu_card(load_price_book(options.prices), options.gpu_type)
        return VllmBackend(
            weights={m: options.model_map.get(m, m) for m in models},
            gpu=gpu,
            gpus=options.gpus,
            command=options.vllm_command,
            extra_args=list(options.vllm_args),
            timeout_s=options.timeout_s,
            max_retries=options.retries,
            max_retry_wait_s=options.max_retry_wait_s,
            default_max_tokens=options.max_tokens,
            temperature=options.temperature,
            startup_timeout_s=options.startup_timeout_s,
            pool=RayPool(options.ray, 0, options.concurrency, options.timeout_s) if options.ray else None,
            engines_at_once=options.ray_workers if options.ray else 1,
        )
    if options.backend == "inspect":
        assert options.inspect_task and options.token_limit, "launch_options checks what each backend needs"
        book = load_price_book(options.prices)
        return InspectBackend(
            task=options.inspect_task,
            inspect_models=options.model_map,
            cards=launch_price_cards(models, book),
            token_limit=options.token_limit,
            command=_beside_python(options.inspect_command, "inspect"),
            book=book,
        )
    pool = (
        RayPool(options.ray, options.ray_workers, options.concurrency, options.timeout_s)
        if options.ray
        else None
    )
    return OpenAIBackend(
        pool=pool,
        base_url=options.base_url,
        served_models=options.model_map,
        cards=launch_price_cards(models, load_price_book(options.prices)),
        api_key=os.environ.get(options.api_key_env) or None,
        timeout_s=options.timeout_s,
        max_retries=options.retries,
        max_retry_wait_s=options.max_retry_wait_s,
        default_max_tokens=options.max_tokens,
        temperature=options.temperature,
    )
