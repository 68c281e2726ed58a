"""Typed, versioned price records: model price cards, GPU cards and what-if scenarios."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class PriceCard(BaseModel):
    """What one model costs, in dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")

    model: str
    """The price-book id the card is for (e.g. ``claude-opus-4-1``)."""
    provider: str | None = None
    """Who sells it at this price (anthropic, openai, a private endpoint...)."""
    input_mtok: float = Field(ge=0)
    """Uncached input tokens."""
    output_mtok: float = Field(ge=0)
    """Output tokens; reasoning tokens are billed at this rate too."""
    cache_read_mtok: float | None = Field(default=None, ge=0)
    """Input tokens read from the provider's prompt cache; None when the provider has no cache price."""
    cache_write_mtok: float | None = Field(default=None, ge=0)
    """Input tokens written to the cache."""
    batch_discount: float | None = Field(default=None, ge=0, lt=1)
    """Share taken off by the provider's batch API (0.5 = half price)."""
    valid_from: date | None = None
    """The first day this price applies, when the source says."""
    source: str
    """Where the card came from: ``genai-prices <version>``, a user file, or a scenario."""
    tiered: bool = False
    """The provider charges more past a per-request token threshold; a rollout's totals span many requests,
    so the base tier is used."""


class GpuCard(BaseModel):
    """What one GPU costs per hour."""

    model_config = ConfigDict(extra="forbid")

    gpu_type: str
    usd_per_hour: float = Field(gt=0)
    """Dollars per GPU-hour."""
    source: str
    """Where the rate came from and when."""
    bf16_tflops: float | None = Field(default=None, gt=0)
    """Dense (no sparsity) BF16 tensor throughput, TFLOP/s: what a checkpoint evaluation's GPU-hours are
    computed from. None where unknown."""


class PriceOverride(BaseModel):
    """A scenario's or user file's price for one model; omitted cache prices fall back to the book's."""

    model_config = ConfigDict(extra="forbid")

    input_mtok: float = Field(ge=0)
    output_mtok: float = Field(ge=0)
    cache_read_mtok: float | None = Field(default=None, ge=0)
    cache_write_mtok: float | None = Field(default=None, ge=0)
    provider: str | None = None


class Scenario(BaseModel):
    """A what-if: other prices, discounts, cache hits, GPU rates or per-rollout caps applied to past rollouts."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    """The scenario file format's version."""
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    """Model (as named in the store) -> new price; rollouts with tokens are re-priced with it."""
    batch_discount: float = Field(default=0.0, ge=0, lt=1)
    """Share taken off every API-priced rollout's cost (0.5 = batch API at half price)."""
    cache_hit_rate: float = Field(default=0.0, ge=0, le=1)
    """Share of uncached input tokens moved to the cache-read price."""
    gpu_rates: dict[str, float] = Field(default_factory=dict)
    """GPU type -> dollars per GPU-hour, for rollouts that record gpu_seconds."""
    token_cap: int | None = Field(default=None, gt=0)
    """Per-rollout token cap: a rollout over it counts as failed and costs the cap's tokens."""
    cost_cap_usd: float | None = Field(default=None, gt=0)
    """Per-rollout cost cap: a rollout over it counts as failed and costs the cap."""
    time_cap_s: float | None = Field(default=None, gt=0)
    """Per-rollout wall-clock cap: a rollout over it counts as failed and costs its share up to the cap."""

    def is_null(self) -> bool:
        return self == Scenario()
