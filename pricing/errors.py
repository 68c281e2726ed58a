"""The pricing package's own error: one sentence naming the file, field or flag, and the allowed form."""

from __future__ import annotations


class PricingError(ValueError):
    """A price file, scenario or flag is malformed."""
