"""The engine's errors: the one tree drawn in ``evalbudget.pricing.errors`` (every layer raises from it)."""

from __future__ import annotations

from evalbudget.pricing.errors import (
    BackendError,
    EvalbudgetError,
    InputError,
    LaunchError,
    PricingError,
    ServerFailed,
    StoreError,
    StoreLockedError,
)

__all__ = [
    "BackendError",
    "EvalbudgetError",
    "InputError",
    "LaunchError",
    "PricingError",
    "ServerFailed",
    "StoreError",
    "StoreLockedError",
]
