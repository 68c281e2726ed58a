"""The launcher: runs a plan on an OpenAI-compatible endpoint or replays it from the store, under a hard
spend cap, committing every rollout as it finishes so that a rerun resumes where it stopped."""

from __future__ import annotations

from evalbudget.engine.launch.backends import (
    Backend,
    BackendError,
    Item,
    OpenAIBackend,
    ReplayBackend,
    Unit,
    UnitResult,
)
from evalbudget.engine.launch.runner import EXIT_BUDGET_EXHAUSTED, Launcher, LaunchReport, launch_id

__all__ = [
    "EXIT_BUDGET_EXHAUSTED",
    "Backend",
    "BackendError",
    "Item",
    "LaunchReport",
    "Launcher",
    "OpenAIBackend",
    "ReplayBackend",
    "Unit",
    "UnitResult",
    "launch_id",
]
