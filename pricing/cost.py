"""The cost model. Pure arithmetic on floats, so the same functions also work element-wise on arrays."""

from __future__ import annotations

from typing import Any, TypeVar

from evalbudget.pricing.models import GpuCard, PriceCard

Number = TypeVar("Number", float, Any)

PER_MILLION = 1_000_000.0


def token_cost(
    card: PriceCard,
    input_tokens: Number,
    cached_input_tokens: Number = 0.0,
    output_tokens: Number = 0.0,
    reasoning_tokens: Number = 0.0,
    cache_write_tokens: Number = 0.0,
) -> Number:
    """input x input price + cached input x cache-read price + cache writes x cache-write price + (output +
    reasoning) x output price.

    Cached tokens are billed at the input price when the card has no cache-read price: reading a cache the
    provider does not discount costs the full rate; so are cache writes where it has no cache-write price.
    """
    cache_read = card.input_mtok if card.cache_read_mtok is None else card.cache_read_mtok
    cache_write = card.input_mtok if card.cache_write_mtok is None else card.cache_write_mtok
    return (
        input_tokens * card.input_mtok
        + cached_input_tokens * cache_read
        + cache_write_tokens * cache_write
        + (output_tokens + reasoning_tokens) * card.output_mtok
    ) / PER_MILLION


BLENDED_INPUT_PER_OUTPUT = 3.0
"""The token mix of a blended price: three input tokens per output token (the convention of public price
comparisons such as Artificial Analysis), used where a cost has no token counts to price."""


def blended_price(card: PriceCard) -> float:
    """Dollars per million tokens at the blended mix: what compares two models' prices in one number."""
    return (BLENDED_INPUT_PER_OUTPUT * card.input_mtok + card.output_mtok) / (BLENDED_INPUT_PER_OUTPUT + 1.0)


def price_ratio(new: PriceCard, old: PriceCard) -> float | None:
    """How many times ``old``'s blended price ``new``'s is; None where ``old`` costs nothing (no ratio)."""
    base = blended_price(old)
    return blended_price(new) / base if base > 0 else None


def token_cost_sql(
    input_tokens: str,
    cached_input_tokens: str,
    output_tokens: str,
    reasoning_tokens: str,
    input_price: str,
    cache_read_price: str,
    output_price: str,
    cache_write_tokens: str = "0",
    cache_write_price: str = "0",
) -> str:
    """``token_cost`` as a SQL expression over the named columns, for pricing many rows in the database.
    ``cache_read_price`` and ``cache_write_price`` must already fall back to the input price where a card has
    none."""
    return (
        f"(({input_tokens}) * ({input_price}) + coalesce({cached_input_tokens}, 0) * ({cache_read_price}) "
        f"+ coalesce({cache_write_tokens}, 0) * ({cache_write_price}) "
        f"+ (({output_tokens}) + coalesce({reasoning_tokens}, 0)) * ({output_price})) / {PER_MILLION}"
    )


def gpu_cost(card: GpuCard, gpu_seconds: Number) -> Number:
    """GPU-seconds / 3600 x the card's hourly rate."""
    return gpu_seconds / 3600.0 * card.usd_per_hour


def usd_to_gpu_hours(usd: float, card: GpuCard) -> float:
    return usd / card.usd_per_hour


def gpu_hours_to_usd(gpu_hours: float, card: GpuCard) -> float:
    return gpu_hours * card.usd_per_hour
