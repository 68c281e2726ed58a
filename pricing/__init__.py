"""Price book and cost model: pure functions over pydantic models (standard library, pydantic, genai-prices).

The engine and the app call it; it imports nothing of theirs. Its names are loaded when first used, so that
importing the error tree (``evalbudget.pricing.errors``, which every layer does) loads no pydantic models and
a command that prices nothing starts faster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalbudget.pricing.book import PriceBook, Resolution, genai_prices_source
    from evalbudget.pricing.cost import (
        blended_price,
        gpu_cost,
        gpu_hours_to_usd,
        price_ratio,
        token_cost,
        token_cost_sql,
        usd_to_gpu_hours,
    )
    from evalbudget.pricing.errors import PricingError
    from evalbudget.pricing.models import GpuCard, PriceCard, PriceOverride, Scenario
    from evalbudget.pricing.scenario import load_scenario, parse_gpu_flag, parse_price_flag

_HOMES = {
    "book": ("PriceBook", "Resolution", "genai_prices_source"),
    "cost": (
        "blended_price",
        "gpu_cost",
        "gpu_hours_to_usd",
        "price_ratio",
        "token_cost",
        "token_cost_sql",
        "usd_to_gpu_hours",
    ),
    "errors": ("PricingError",),
    "models": ("GpuCard", "PriceCard", "PriceOverride", "Scenario"),
    "scenario": ("load_scenario", "parse_gpu_flag", "parse_price_flag"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "GpuCard",
    "PriceBook",
    "PriceCard",
    "PriceOverride",
    "PricingError",
    "Resolution",
    "Scenario",
    "blended_price",
    "genai_prices_source",
    "gpu_cost",
    "gpu_hours_to_usd",
    "load_scenario",
    "parse_gpu_flag",
    "parse_price_flag",
    "price_ratio",
    "token_cost",
    "token_cost_sql",
    "usd_to_gpu_hours",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
