"""evalbudget's headless core: the store, ingest and (later) simulation, planning and launching.

Both front ends, the command line (engine.cli) and the Textual app (tui/), run through this package;
it never imports textual.
"""

from __future__ import annotations

from evalbudget.engine.errors import EvalbudgetError, InputError, StoreError, StoreLockedError
from evalbudget.engine.info import StoreInfo, store_info
from evalbudget.engine.ingest import ingest_files
from evalbudget.engine.store import Store, latest_schema_version, open_store

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
