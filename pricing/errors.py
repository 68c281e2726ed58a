"""Every error a user of evalbudget sees, in one tree. The front ends (the CLI and the app) catch its root,
print its one sentence (which names the file, line, field or flag, and what is allowed) and, in the CLI,
exit with its ``exit_code``; anything else is a bug.

    EvalbudgetError                 root: one clear sentence; exit status 1 unless a subclass says otherwise
    ├── InputError                  a file, flag or field the user gave is malformed or names something unknown
    │   └── PricingError            a price file, scenario, price or GPU flag (raised by evalbudget.pricing)
    ├── StoreError                  the store cannot be opened, or is of a schema this version does not know
    │   └── StoreLockedError        another process holds the store for writing
    └── LaunchError                 a launch cannot start or go on
        ├── ServerFailed            a local vLLM server did not start or died (its last log lines included)
        └── BackendError            one request failed after its retries; the launcher records the reason,
                                    counts it as failed and goes on (a rerun tries it again)

The tree lives in the lowest layer, pricing, so that every layer can raise from it; ``evalbudget.engine.errors``
re-exports it for the engine.
"""

from __future__ import annotations


class EvalbudgetError(Exception):
    """A failure to report as one clear sentence; the CLI exits with ``exit_code``."""

    exit_code = 1


class InputError(EvalbudgetError):
    """A file, flag or field the user gave is malformed; the message names it."""


class PricingError(InputError):
    """A price file, scenario or flag is malformed."""


class StoreError(EvalbudgetError):
    """The store cannot be opened or is of a schema this version does not know."""


class StoreLockedError(StoreError):
    """Another process holds the store for writing."""


class LaunchError(EvalbudgetError):
    """A launch cannot start or go on."""


class ServerFailed(LaunchError):
    """A local inference server did not start, or died while serving."""


class BackendError(LaunchError):
    """One request failed after its retries (the launcher records the reason and goes on)."""

    def __init__(self, message: str, *, unknown_outcome: bool = False) -> None:
        super().__init__(message)
        self.unknown_outcome = unknown_outcome
        """The last attempt reached the provider and may be billed: it is charged its worst case."""
