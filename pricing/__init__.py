"""Price book and cost model: pure functions over pydantic models (standard library, pydantic, genai-prices).

The engine and the app call it; it imports nothing of theirs.
"""

from __future__ import annotations

from evalbudget.pricing.book import PriceBook, Resolution, genai_prices_source
from evalbudget.pricing.cost import gpu_cost, gpu_hours_to_usd, token_cost, token_cost_sql, usd_to_gpu_hours
from evalbudget.pricing.errors import PricingError
from evalbudget.pricing.models import GpuCard, PriceCard, PriceOverride, Scenario
from evalbudget.pricing.scenario import load_scenario, parse_gpu_flag, parse_price_flag

__all__ = [
    "GpuCard",
    "PriceBook",
    "PriceCard",
    "PriceOverride",
    "PricingError",
    "Resolution",
    "Scenario",
    "genai_prices_source",
    "gpu_cost",
    "gpu_hours_to_usd",
    "load_scenario",
    "parse_gpu_flag",
    "parse_price_flag",
    "token_cost",
    "token_cost_sql",
    "usd_to_gpu_hours",
]
