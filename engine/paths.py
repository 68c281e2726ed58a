"""Where evalbudget keeps its files; each path can be redirected by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "evalbudget"


def default_store_path() -> Path:
    """``EVALBUDGET_STORE``, else ``store.duckdb`` in the user data dir."""
    override = os.environ.get("EVALBUDGET_STORE")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path(APP_NAME) / "store.duckdb"


def plans_dir() -> Path:
    """``EVALBUDGET_PLANS_DIR``, else ``plans`` in the user data dir: where the app saves plans by default."""
    override = os.environ.get("EVALBUDGET_PLANS_DIR")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path(APP_NAME) / "plans"


def config_dir() -> Path:
    """``EVALBUDGET_CONFIG_DIR``, else the user config dir (prices.toml, aliases.toml live here)."""
    override = os.environ.get("EVALBUDGET_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path(APP_NAME)
