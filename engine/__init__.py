"""evalbudget's headless core: the store, ingest, simulation, planning and launching.

Both front ends, the command line (engine.cli) and the Textual app (tui/), run through this package;
it never imports textual. Its public names are loaded when first used, so that a command loads only the
modules it runs (``evalbudget --help`` reads no price data and builds no pydantic model).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalbudget.engine.errors import EvalbudgetError, InputError, StoreError, StoreLockedError
    from evalbudget.engine.info import StoreInfo, store_info
    from evalbudget.engine.ingest import ingest_files
    from evalbudget.engine.store import Store, latest_schema_version, open_store

_HOMES = {
    "errors": ("EvalbudgetError", "InputError", "StoreError", "StoreLockedError"),
    "info": ("StoreInfo", "store_info"),
    "ingest": ("ingest_files",),
    "store": ("Store", "latest_schema_version", "open_store"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "EvalbudgetError",
    "InputError",
    "Store",
    "StoreError",
    "StoreInfo",
    "StoreLockedError",
    "ingest_files",
    "latest_schema_version",
    "open_store",
    "store_info",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
