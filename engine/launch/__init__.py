"""The launcher: runs a plan on an OpenAI-compatible endpoint or replays it from the store, under a hard
spend cap, committing every rollout as it finishes so that a rerun resumes where it stopped.

The names below load on first use, so the CLI can build its `launch` flags from ``launch.options`` without
importing the runner and its HTTP client at every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "Backend": "backends",
    "BackendError": "backends",
    "Item": "backends",
    "OpenAIBackend": "backends",
    "ReplayBackend": "backends",
    "Unit": "backends",
    "UnitResult": "backends",
    "EXIT_BUDGET_EXHAUSTED": "runner",
    "LaunchReport": "runner",
    "Launcher": "runner",
    "launch_id": "runner",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
