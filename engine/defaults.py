"""Defaults shared by the CLI, the planner and the launcher (a light module: the CLI imports it at start)."""

from __future__ import annotations

DEFAULT_MAX_TOKENS = 512
"""Output tokens allowed to an item that names no max_tokens (and what its worst case is priced at)."""
