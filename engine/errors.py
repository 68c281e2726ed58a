"""Errors the user sees: each carries one sentence that says what is wrong and where."""

from __future__ import annotations


class EvalbudgetError(Exception):
    """A failure to report as one clear sentence; the CLI exits with ``exit_code``."""

    exit_code = 1


class InputError(EvalbudgetError):
    """A file, flag or field the user gave is malformed; the message names it."""


class StoreError(EvalbudgetError):
    """The store cannot be opened or is of a schema this version does not know."""


class StoreLockedError(StoreError):
    """Another process holds the store for writing."""
