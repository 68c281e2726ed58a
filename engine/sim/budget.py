"""Budgets: ``$50`` / ``50usd``, ``12gpu-h`` (with a GPU type), or ``5%`` of the full cost."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from evalbudget.engine.errors import InputError
from evalbudget.pricing import GpuCard, gpu_hours_to_usd

_BUDGET = re.compile(
    r"^\s*(?:\$\s*(?P<dollars>[0-9.]+)|(?P<usd>[0-9.]+)\s*usd|(?P<gpu>[0-9.]+)\s*gpu-?h(?:ours?)?|(?P<pct>[0-9.]+)\s*%)\s*$",
    re.IGNORECASE,
)
FORMS = "'$50', '50usd', '12gpu-h' (with a GPU type) or '5%'"


@dataclass(frozen=True)
class Budget:
    kind: str
    """usd, gpu_h or percent."""
    value: float
    text: str

    def label(self) -> str:
        return {"usd": f"${self.value:g}", "gpu_h": f"{self.value:g} gpu-h", "percent": f"{self.value:g}%"}[
            self.kind
        ]


def parse_budget(text: str) -> Budget:
    match = _BUDGET.match(text)
    if not match:
        raise InputError(f"Budget {text!r} is not one of {FORMS}.")
    kind, raw = next((k, v) for k, v in match.groupdict().items() if v is not None)
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"Budget {text!r} is not one of {FORMS}.") from None
    if not math.isfinite(value):
        raise InputError(f"Budget {text!r} is not a finite number.")
    if value <= 0:
        raise InputError(f"Budget {text!r} must be more than zero.")
    kind = {"dollars": "usd", "usd": "usd", "gpu": "gpu_h", "pct": "percent"}[kind]
    if kind == "percent" and value > 100:
        raise InputError(f"Budget {text!r} is more than 100% of the full cost.")
    return Budget(kind, value, text)


def budget_units(budget: Budget, full_cost: float, *, has_cost: bool, gpu: GpuCard | None) -> float:
    """The budget in the benchmark's cost units: dollars, or rollouts where the benchmark has no cost data."""
    if budget.kind == "percent":
        return full_cost * budget.value / 100.0
    if not has_cost:
        raise InputError(
            f"Budget {budget.text!r} is in money, but this benchmark has no cost data; give a share such as '10%' "
            "(a share of rollouts)."
        )
    if budget.kind == "usd":
        return budget.value
    if gpu is None:
        raise InputError(f"Budget {budget.text!r} is in GPU-hours: name the GPU type it is in (e.g. H100).")
    return gpu_hours_to_usd(budget.value, gpu)
