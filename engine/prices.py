"""The price book as the engine uses it: loaded from the user's config dir, and applied to the store's models."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel

from evalbudget.engine.errors import InputError
from evalbudget.engine.paths import config_dir
from evalbudget.pricing import GpuCard, PriceBook, PriceCard, Resolution


def load_price_book(prices_file: Path | None = None) -> PriceBook:
    """Shipped defaults, then aliases.toml and prices.toml in the config dir (or ``prices_file``)."""
    return PriceBook.load(prices_file=prices_file, config_dir=config_dir())


def gpu_card(book: PriceBook, gpu_type: str) -> GpuCard:
    """The card of a GPU type; a type with no card is refused in one sentence, naming the types known."""
    card = book.gpu(gpu_type)
    if card is None:
        known = ", ".join(sorted(book.gpus)) or "none"
        raise InputError(
            f"The GPU type {gpu_type!r} has no GPU card (known: {known}); add one to prices.toml."
        )
    return card


class ModelPrice(BaseModel):
    model: str
    """The name as the store holds it."""
    matched_id: str | None
    provider: str | None
    input_mtok: float | None
    output_mtok: float | None
    cache_read_mtok: float | None
    source: str | None
    """Where the card came from (genai-prices and its version, or the user's prices file)."""
    how: str
    """user, alias, genai-prices or unmatched."""
    rule: str | None = None
    """How genai-prices matched the name: as written, by its provider prefix, ..."""
    tiered: bool = False
    """The provider's price rises past a per-request threshold; the base tier is shown and used."""


class PricesReport(BaseModel):
    models: list[ModelPrice]
    unmatched: list[str]
    hints: dict[str, str] = {}
    """Unmatched name -> what it could mean (two differently priced models), and how to say which."""


def store_models(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Every model in the store -> the last time one of its rollouts or runs started (None if unknown)."""
    rows = conn.execute(
        """
        SELECT model, max(started_at) FROM (
            SELECT model, started_at FROM rollouts
            UNION ALL SELECT model, started_at FROM runs WHERE aggregate_only AND model IS NOT NULL
        ) GROUP BY model ORDER BY lower(model)
        """
    ).fetchall()
    return {str(model): when for model, when in rows}


def prices_report(book: PriceBook, models: dict[str, Any]) -> PricesReport:
    """The resolved card of each model at its latest known date."""
    resolutions = [book.resolve(model, when) for model, when in models.items()]
    entries = [_entry(r) for r in resolutions]
    return PricesReport(
        models=[e for e in entries if e.how != "unmatched"],
        unmatched=[e.model for e in entries if e.how == "unmatched"],
        hints={r.model: r.hint for r in resolutions if r.hint},
    )


def _entry(resolution: Resolution) -> ModelPrice:
    card = resolution.card
    return ModelPrice(
        model=resolution.model,
        matched_id=resolution.matched_id,
        provider=card.provider if card else None,
        input_mtok=card.input_mtok if card else None,
        output_mtok=card.output_mtok if card else None,
        cache_read_mtok=card.cache_read_mtok if card else None,
        source=card.source if card else None,
        how=resolution.how,
        rule=resolution.rule,
        tiered=card.tiered if card else False,
    )


def launch_price_cards(models: Iterable[str], book: PriceBook) -> dict[str, PriceCard]:
    """Every model's price card for a launch (whatever its scaffold); a model with no price is refused, since
    the spend cap could not be kept."""
    cards: dict[str, PriceCard] = {}
    for model in sorted(set(models)):
        card = book.resolve(model).card
        if card is None:
            raise InputError(
                f"Model {model!r} has no price, so the spend cap cannot be kept; add it to prices.toml "
                "(or an alias) before launching."
            )
        cards[model] = card
    return cards
