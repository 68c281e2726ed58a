"""The price book: model prices from genai-prices' bundled data, the shipped alias table, default GPU cards,
and the user's own prices.toml on top. No network is used: genai-prices ships a snapshot of its database.

Matching a store's model name: the user's [models] first, then the alias table (shipped aliases.toml and the
user's), then genai-prices' own matching of the name: as written, then with its provider prefix the way
harnesses write it (``openai/gpt-4o-mini``, LiteLLM's and Inspect's form, which genai-prices reads itself),
then, failing those, readings that drop a deployment prefix (``openai/azure/gpt-4o-mini``) or take a HELM run
folder's ``openai_gpt-4o`` as ``openai/gpt-4o``. Those fallback readings must agree on the price: a name two of
them would price differently stays unmatched with a hint. A name that matches nothing is unmatched: its
rollouts stay unpriced.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalbudget.pricing.errors import PricingError
from evalbudget.pricing.models import GpuCard, PriceCard, PriceOverride


@dataclass(frozen=True)
class Alias:
    model: str
    provider: str | None = None


@dataclass(frozen=True)
class Resolution:
    """How one store model name was priced, or that it was not."""

    model: str
    card: PriceCard | None
    matched_id: str | None
    how: str
    """``user``, ``alias``, ``genai-prices`` or ``unmatched``."""
    rule: str | None = None
    """For genai-prices: how the name was read (``the name as written``, ``provider prefix 'openai/'``, ...)."""
    hint: str | None = None
    """For an unmatched name: what it could have meant, and how to say which."""


# genai-prices is imported where a price is looked up, not with this module: its price data takes a tenth of a
# second to load, which a command that needs no price (an ingest of recorded costs) should not pay


def genai_prices_source() -> str:
    import genai_prices

    return f"genai-prices {genai_prices.__version__}"


def read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise PricingError(f"{path}: no such {what} file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"{path}: not valid TOML ({exc}).") from None
    except UnicodeDecodeError:
        raise PricingError(f"{path}: not a text file (TOML is UTF-8 text).") from None
    except OSError as exc:
        raise PricingError(f"{path}: cannot be read ({exc.strerror}).") from None


def validation_sentence(where: str, exc: ValidationError) -> str:
    """One sentence for a pydantic error: the field's dotted path, what is wrong, and the input."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"{where}: field '{field}' {first['msg'].lower()} (got {first.get('input')!r})."


def _number(value: Any) -> tuple[float | None, bool]:
    """A genai-prices price as a float and whether it was tiered (the base tier is used)."""
    if value is None:
        return None, False
    if isinstance(value, Decimal | int | float):
        return float(value), False
    base = getattr(value, "base", None)
    return (float(base), True) if base is not None else (None, False)


class PriceBook:
    """Resolves store model names to price cards and GPU types to GPU cards."""

    def __init__(
        self,
        *,
        user_models: dict[str, PriceOverride] | None = None,
        aliases: dict[str, Alias] | None = None,
        gpus: dict[str, GpuCard] | None = None,
        user_source: str = "prices.toml",
    ) -> None:
        self.user_models = user_models or {}
        self.aliases = aliases or {}
        self.gpus = gpus or {}
        self.user_source = user_source
        self._cache: dict[tuple[str, date | None], Resolution] = {}

    @classmethod
    def load(cls, prices_file: Path | None = None, config_dir: Path | None = None) -> PriceBook:
        """The shipped defaults, then ``config_dir``'s aliases.toml and prices.toml (or ``prices_file``)."""
        aliases = _parse_aliases(
            tomllib.loads(resources.files("evalbudget.pricing").joinpath("aliases.toml").read_text()),
            "aliases.toml",
        )
        gpus = _parse_gpus(
            tomllib.loads(resources.files("evalbudget.pricing").joinpath("gpus.toml").read_text()),
            "gpus.toml",
        )
        user_models: dict[str, PriceOverride] = {}
        user_source = "prices.toml"
        if config_dir is not None and (config_dir / "aliases.toml").exists():
            path = config_dir / "aliases.toml"
            aliases.update(_parse_aliases(read_toml(path, "aliases"), str(path)))
        chosen = prices_file or (config_dir / "prices.toml" if config_dir is not None else None)
        if chosen is not None and (prices_file is not None or chosen.exists()):
            data = read_toml(chosen, "prices")
            unknown = set(data) - {"models", "gpus", "aliases"}
            if unknown:
                raise PricingError(
                    f"{chosen}: unknown section '{sorted(unknown)[0]}' (allowed: [models.NAME], [gpus.TYPE], [aliases])."
                )
            user_models = _parse_models(data.get("models", {}), str(chosen))
            gpus.update(_parse_gpus({"gpus": data.get("gpus", {})}, str(chosen)))
            aliases.update(_parse_aliases({"aliases": data.get("aliases", {})}, str(chosen)))
            user_source = str(chosen)
        return cls(user_models=user_models, aliases=aliases, gpus=gpus, user_source=user_source)

    def resolve(self, model: str, at: datetime | date | None = None) -> Resolution:
        """The card for ``model`` at the time a rollout ran (``at``; None = today)."""
        day = at.date() if isinstance(at, datetime) else at
        key = (model, day)
        if key not in self._cache:
            self._cache[key] = self._resolve(model, day)
        return self._cache[key]

    def _resolve(self, model: str, day: date | None) -> Resolution:
        if model in self.user_models:
            return Resolution(model, self._user_card(model, self.user_models[model]), model, "user")
        alias = self.aliases.get(model)
        if alias is not None:
            if alias.model in self.user_models:
                return Resolution(
                    model, self._user_card(alias.model, self.user_models[alias.model]), alias.model, "alias"
                )
            aliased = self._genai_card(alias.model, alias.provider, day)
            return Resolution(
                model, aliased, aliased.model if aliased else None, "alias" if aliased else "unmatched"
            )
        return self._genai_resolution(model, day)

    def _genai_resolution(self, model: str, day: date | None) -> Resolution:
        """genai-prices' matching of the name as written, then of the readings harnesses' names allow."""
        for ref, provider_id, rule in _literal_readings(model):
            found = self._genai_card(ref, provider_id, day)
            if found is not None:
                return Resolution(model, found, found.model, "genai-prices", rule)
        matches = [
            (card, rule)
            for ref, provider_id, rule in _fallback_readings(model)
            if (card := self._genai_card(ref, provider_id, day)) is not None
        ]
        prices = {(c.input_mtok, c.output_mtok, c.cache_read_mtok) for c, _ in matches}
        if len(prices) == 1:
            card, rule = matches[0]
            return Resolution(model, card, card.model, "genai-prices", rule)
        hint = None
        if matches:
            seen = dict.fromkeys(
                f"{c.provider}/{c.model} (${c.input_mtok:g}/${c.output_mtok:g} per Mtok)" for c, _ in matches
            )
            hint = f"could be {' or '.join(seen)}: name the one you mean in aliases.toml or prices.toml"
        return Resolution(model, None, None, "unmatched", hint=hint)

    def _user_card(self, name: str, override: PriceOverride) -> PriceCard:
        return PriceCard(model=name, source=self.user_source, **override.model_dump())

    def _genai_card(self, ref: str, provider: str | None, day: date | None) -> PriceCard | None:
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        try:
            found_provider, info = snapshot.find_provider_model(ref, None, provider, None)
        except (LookupError, ValueError):
            return None
        # noon UTC of the day: rollouts carry dates, and a price that varies by time of day (off-peak
        # discounts) must not change with the hour someone happens to ask
        day = day or datetime.now(UTC).date()
        when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        prices = info.get_prices(when)
        input_mtok, tiered_in = _number(prices.input_mtok)
        output_mtok, tiered_out = _number(prices.output_mtok)
        if input_mtok is None or output_mtok is None:
            return None  # not priced per token (e.g. per request): not a price this model can use
        cache_read, _ = _number(prices.cache_read_mtok)
        cache_write, _ = _number(prices.cache_write_mtok)
        return PriceCard(
            valid_from=_valid_from(info.prices, when),
            model=info.id,
            provider=found_provider.id,
            input_mtok=input_mtok,
            output_mtok=output_mtok,
            cache_read_mtok=cache_read,
            cache_write_mtok=cache_write,
            source=genai_prices_source(),
            tiered=tiered_in or tiered_out,
        )

    def gpu(self, gpu_type: str) -> GpuCard | None:
        wanted = gpu_type.strip().upper()
        return next((card for name, card in self.gpus.items() if name.upper() == wanted), None)


def _valid_from(prices: object, when: datetime) -> date | None:
    """The start date of the dated price in force at ``when``, where genai-prices dates it."""
    if not isinstance(prices, list):
        return None
    for conditional in reversed(prices):
        constraint = getattr(conditional, "constraint", None)
        if constraint is None:
            return None
        start = getattr(constraint, "start_date", None)
        if start is not None and constraint.active(when):
            return start if isinstance(start, date) else None
    return None


def _parse_aliases(data: dict[str, Any], where: str) -> dict[str, Alias]:
    table = data.get("aliases", {})
    if not isinstance(table, dict):
        raise PricingError(f"{where}: [aliases] must be a table of 'store name' = 'price id'.")
    aliases: dict[str, Alias] = {}
    for name, value in table.items():
        if isinstance(value, str) and value:
            aliases[name] = Alias(value)
        elif (
            isinstance(value, dict)
            and isinstance(value.get("model"), str)
            and set(value) <= {"model", "provider"}
        ):
            aliases[name] = Alias(value["model"], value.get("provider"))
        else:
            raise PricingError(
                f'{where}: alias \'{name}\' must be a price id or {{model = "...", provider = "..."}} (got {value!r}).'
            )
    return aliases


def _parse_gpus(data: dict[str, Any], where: str) -> dict[str, GpuCard]:
    cards: dict[str, GpuCard] = {}
    for name, value in (data.get("gpus") or {}).items():
        if not isinstance(value, dict):
            raise PricingError(f"{where}: [gpus.{name}] must be a table with usd_per_hour and source.")
        try:
            cards[name] = GpuCard(gpu_type=name, **{"source": where, **value})
        except ValidationError as exc:
            raise PricingError(validation_sentence(f"{where}, [gpus.{name}]", exc)) from None
    return cards


def _parse_models(table: Any, where: str) -> dict[str, PriceOverride]:
    if not isinstance(table, dict):
        raise PricingError(f'{where}: [models] must hold one table per model: [models."NAME"].')
    models: dict[str, PriceOverride] = {}
    for name, value in table.items():
        if not isinstance(value, dict):
            raise PricingError(f'{where}: [models."{name}"] must be a table with input_mtok and output_mtok.')
        try:
            models[name] = PriceOverride(**value)
        except ValidationError as exc:
            raise PricingError(validation_sentence(f'{where}, [models."{name}"]', exc)) from None
    return models


LITELLM = "litellm"
"""genai-prices' provider id that makes it read ``provider/model`` (its LiteLLM support)."""


def _known_provider(name: str) -> bool:
    from genai_prices import data_snapshot
    from genai_prices.data_snapshot import find_provider_by_id

    return bool(name) and find_provider_by_id(data_snapshot.get_snapshot().providers, name) is not None


def _literal_readings(model: str) -> list[tuple[str, str | None, str]]:
    """(model ref, genai-prices provider id, rule): the name as written, and as ``provider/model``."""
    readings: list[tuple[str, str | None, str]] = [(model, None, "the name as written")]
    head = model.split("/", 1)[0]
    if "/" in model and _known_provider(head):
        readings.append((model, LITELLM, f"provider prefix '{head}/'"))
    return readings


def _fallback_readings(model: str) -> list[tuple[str, str | None, str]]:
    """Readings tried only when the literal ones match nothing; they must agree on the price."""
    readings: list[tuple[str, str | None, str]] = []
    parts = model.split("/")
    for cut in range(1, len(parts) - 1):  # a deployment prefix: openai/azure/gpt-4o-mini -> azure/gpt-4o-mini
        rest = "/".join(parts[cut:])
        if _known_provider(parts[cut]):
            dropped = "/".join(parts[:cut]) + "/"
            readings.append((rest, LITELLM, f"'{dropped}' dropped, provider prefix '{parts[cut]}/'"))
    if len(parts) > 2 and _known_provider(parts[0]):  # openai/azure/gpt-4o-mini -> openai's gpt-4o-mini
        readings.append((parts[-1], parts[0], f"provider '{parts[0]}', model '{parts[-1]}'"))
    if "/" not in model and "_" in model:  # a HELM run folder: openai_gpt-4o-2024-05-13
        head, rest = model.split("_", 1)
        if _known_provider(head):
            readings.append((f"{head}/{rest}", LITELLM, f"HELM folder name: '{head}_' read as '{head}/'"))
    return readings
