"""Reading what-if scenarios from TOML files and command-line flags."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalbudget.pricing.book import read_toml, validation_sentence
from evalbudget.pricing.errors import PricingError
from evalbudget.pricing.models import PriceOverride, Scenario


def load_scenario(path: Path | None = None, **flags: Any) -> Scenario:
    """A scenario from ``path`` (TOML) with command-line ``flags`` on top; None flags are left out."""
    data: dict[str, Any] = read_toml(path, "scenario") if path is not None else {}
    where = str(path) if path is not None else "scenario"
    for key, value in flags.items():
        if value is None or value == {}:
            continue
        if key in ("prices", "gpu_rates"):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise PricingError(validation_sentence(where, exc)) from None


def parse_price_flag(text: str, name: str = "--price") -> tuple[str, PriceOverride]:
    """``MODEL=IN/OUT`` or ``MODEL=IN/OUT/CACHE_READ``, dollars per million tokens; ``name`` is what a refusal
    calls the value (the flag, or the app's field)."""
    model, sep, prices = text.rpartition("=")
    parts = prices.split("/")
    try:
        if not sep or not model or len(parts) not in (2, 3):
            raise ValueError
        numbers = [float(p) for p in parts]
        if any(n < 0 or not math.isfinite(n) for n in numbers):
            raise ValueError
    except ValueError:
        raise PricingError(
            f"{name} {text!r} must be MODEL=IN/OUT or MODEL=IN/OUT/CACHE_READ in dollars per million tokens "
            "(e.g. 'GPT-5=1.25/10')."
        ) from None
    cache_read = numbers[2] if len(numbers) == 3 else None
    return model, PriceOverride(input_mtok=numbers[0], output_mtok=numbers[1], cache_read_mtok=cache_read)


def parse_gpu_flag(text: str, name: str = "--gpu") -> tuple[str, float]:
    """``TYPE=RATE`` in dollars per GPU-hour; ``name`` as for parse_price_flag."""
    gpu_type, sep, rate = text.partition("=")
    try:
        value = float(rate)
        if not sep or not gpu_type or value <= 0 or not math.isfinite(value):
            raise ValueError
    except ValueError:
        raise PricingError(
            f"{name} {text!r} must be TYPE=RATE in dollars per GPU-hour (e.g. 'H100=2.5')."
        ) from None
    return gpu_type, value
