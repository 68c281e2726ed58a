"""The price book and the cost model: pure code, plain pytest and hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from genai_prices import data_snapshot
from hypothesis import given
from hypothesis import strategies as st

from evalbudget import pricing
from evalbudget.pricing import (
    GpuCard,
    PriceBook,
    PriceCard,
    PricingError,
    Scenario,
    gpu_cost,
    gpu_hours_to_usd,
    load_scenario,
    parse_gpu_flag,
    parse_price_flag,
    token_cost,
    usd_to_gpu_hours,
)

MILLION = 1_000_000


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook.load()


def test_the_seed_figures(book: PriceBook) -> None:
    opus = book.resolve("claude-opus-4-1").card
    flash = book.resolve("gemini-2.0-flash").card
    assert opus is not None and flash is not None
    assert token_cost(opus, MILLION, 0, MILLION) == pytest.approx(90.00)
    assert token_cost(flash, MILLION, 0, MILLION) == pytest.approx(0.50)
    assert opus.source.startswith("genai-prices ")


def test_cache_reads_are_billed_at_the_cache_price(book: PriceBook) -> None:
    opus = book.resolve("claude-opus-4-1").card
    assert opus is not None and opus.cache_read_mtok is not None
    assert token_cost(opus, 0, MILLION) == pytest.approx(opus.cache_read_mtok)
    assert token_cost(opus, 0, MILLION) < token_cost(opus, MILLION)
    # reasoning tokens are output tokens
    assert token_cost(opus, 0, 0, 0, MILLION) == pytest.approx(opus.output_mtok)


def test_a_card_without_a_cache_price_bills_cached_input_in_full() -> None:
    card = PriceCard(model="m", input_mtok=2, output_mtok=4, source="test")
    assert token_cost(card, 0, MILLION) == pytest.approx(2.0)


def test_aliases_map_display_names(book: PriceBook) -> None:
    resolution = book.resolve("Claude 4.5 Opus medium (20251101)")
    assert resolution.how == "alias" and resolution.matched_id == "claude-opus-4-5"
    assert resolution.card is not None and resolution.card.provider == "anthropic"


def test_an_unmatched_model_has_no_card_never_zero(book: PriceBook) -> None:
    resolution = book.resolve("NullModel")
    assert resolution.how == "unmatched" and resolution.card is None and resolution.matched_id is None


def test_prices_follow_the_date_the_rollout_ran(book: PriceBook) -> None:
    # find a model whose price changed over time in genai-prices' data, and check each date gets its price
    snapshot = data_snapshot.get_snapshot()
    for provider in snapshot.providers:
        for info in provider.models:
            if isinstance(info.prices, list) and len(info.prices) > 1:
                constraint = info.prices[-1].constraint
                start = getattr(constraint, "start_date", None)
                if start is None:
                    continue
                start_day = start.date() if isinstance(start, datetime) else start
                before, after = date(start_day.year - 1, 1, 1), start_day
                card_before = PriceBook()._genai_card(info.id, provider.id, before)
                card_after = PriceBook()._genai_card(info.id, provider.id, after)
                if card_before is None or card_after is None:
                    continue
                expected = info.get_prices(datetime(before.year, 1, 1, 12, tzinfo=UTC))
                assert card_before.output_mtok == pytest.approx(
                    float(getattr(expected.output_mtok, "base", expected.output_mtok))
                )
                if (
                    card_before.output_mtok != card_after.output_mtok
                    or card_before.input_mtok != card_after.input_mtok
                ):
                    return
    pytest.fail("no model with a dated price change found in genai-prices' data")


def test_user_prices_override_and_add(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "prices.toml").write_text(
        """
[models."claude-opus-4-1"]
input_mtok = 10
output_mtok = 50
[models."my-endpoint"]
input_mtok = 0.2
output_mtok = 0.6
provider = "private"
[gpus.H100]
usd_per_hour = 1.75
source = "our negotiated rate, 2026"
[gpus.B200]
usd_per_hour = 5
[aliases]
"Our Model v2" = "my-endpoint"
"""
    )
    (config / "aliases.toml").write_text('[aliases]\n"Opus four one" = "claude-opus-4-1"\n')
    book = PriceBook.load(config_dir=config)
    opus = book.resolve("claude-opus-4-1")
    assert opus.how == "user" and opus.card is not None and opus.card.input_mtok == 10
    mine = book.resolve("Our Model v2")
    assert mine.how == "alias" and mine.card is not None and mine.card.provider == "private"
    assert book.resolve("Opus four one").card is not None
    assert book.gpu("h100") == GpuCard(gpu_type="H100", usd_per_hour=1.75, source="our negotiated rate, 2026")
    b200 = book.gpu("B200")
    assert b200 is not None and b200.source.endswith("prices.toml")
    assert book.gpu("A100") is not None  # shipped defaults stay


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[models."m"]\ninput_mtok = -1\noutput_mtok = 1\n',
            "field 'input_mtok' input should be greater than or equal to 0",
        ),
        ('[models."m"]\ninput_mtok = 1\n', "field 'output_mtok' field required"),
        ("[gpus.H100]\nusd_per_hour = 'cheap'\n", "[gpus.H100]: field 'usd_per_hour'"),
        ("[prices]\nx = 1\n", "unknown section 'prices'"),
        ("[models\n", "not valid TOML"),
    ],
)
def test_bad_price_files_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(PricingError) as caught:
        PriceBook.load(prices_file=path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_default_gpu_cards_state_their_source(book: PriceBook) -> None:
    for gpu_type in ("H100", "H200", "A100", "L40S"):
        card = book.gpu(gpu_type)
        assert card is not None and card.usd_per_hour > 0 and "20" in card.source  # a dated source


def test_gpu_costs_and_budget_conversion() -> None:
    card = GpuCard(gpu_type="H100", usd_per_hour=2.5, source="test")
    assert gpu_cost(card, 7200) == pytest.approx(5.0)
    assert usd_to_gpu_hours(10, card) == pytest.approx(4.0)
    assert gpu_hours_to_usd(usd_to_gpu_hours(123.45, card), card) == pytest.approx(123.45)


@given(
    tokens=st.tuples(*[st.integers(0, 10**9)] * 4),
    prices=st.tuples(*[st.floats(0, 100, allow_nan=False)] * 3),
    scale=st.integers(1, 50),
)
def test_token_cost_is_non_negative_and_linear(
    tokens: tuple[int, ...], prices: tuple[float, ...], scale: int
) -> None:
    card = PriceCard(
        model="m", input_mtok=prices[0], output_mtok=prices[1], cache_read_mtok=prices[2], source="t"
    )
    cost = token_cost(card, *tokens)
    assert cost >= 0
    assert token_cost(card, *(t * scale for t in tokens)) == pytest.approx(cost * scale)


def test_cache_writes_are_billed_at_the_cache_write_price_else_the_input_price() -> None:
    """Anthropic bills a token written to its prompt cache at 1.25x its input price; a provider with no
    cache-write price bills it as input."""
    anthropic = PriceCard(
        model="claude", input_mtok=5, output_mtok=25, cache_read_mtok=0.5, cache_write_mtok=6.25, source="t"
    )
    plain = PriceCard(model="gpt", input_mtok=2, output_mtok=8, cache_read_mtok=0.5, source="t")
    tokens = dict(input_tokens=1_000_000, cached_input_tokens=2_000_000, output_tokens=100_000)
    assert token_cost(anthropic, **tokens, cache_write_tokens=4_000_000) == pytest.approx(
        5 + 2 * 0.5 + 4 * 6.25 + 0.1 * 25
    )
    assert token_cost(plain, **tokens, cache_write_tokens=4_000_000) == pytest.approx(
        2 + 2 * 0.5 + 4 * 2 + 0.1 * 8
    )
    assert token_cost(plain, **tokens) == pytest.approx(2 + 2 * 0.5 + 0.1 * 8)


def test_scenarios_from_files_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(
        'batch_discount = 0.5\ncost_cap_usd = 2\n[prices."GPT-5"]\ninput_mtok = 1\noutput_mtok = 8\n'
    )
    scenario = load_scenario(path, cost_cap_usd=1.0, prices=dict([parse_price_flag("Claude=3/15/0.3")]))
    assert scenario.batch_discount == 0.5 and scenario.cost_cap_usd == 1.0
    assert set(scenario.prices) == {"GPT-5", "Claude"} and scenario.prices["Claude"].cache_read_mtok == 0.3
    assert load_scenario(None).is_null() and Scenario().is_null()
    assert parse_gpu_flag("H100=2.5") == ("H100", 2.5)
    assert parse_price_flag("org/model=v1=1/2")[0] == "org/model=v1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cache_hit_rate = 1.5\n", "field 'cache_hit_rate' input should be less than or equal to 1"),
        ("token_cap = 0\n", "field 'token_cap' input should be greater than 0"),
        ("surprise = true\n", "field 'surprise' extra inputs are not permitted"),
        ('[prices."m"]\ninput_mtok = 1\n', "field 'prices.m.output_mtok' field required"),
    ],
)
def test_bad_scenario_files_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(PricingError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)


@pytest.mark.parametrize("text", ["GPT-5", "GPT-5=1", "GPT-5=a/b", "=1/2", "GPT-5=-1/2"])
def test_bad_price_flags(text: str) -> None:
    with pytest.raises(PricingError, match="MODEL=IN/OUT"):
        parse_price_flag(text)


def test_a_price_ratio_is_of_blended_prices() -> None:
    """Three input tokens per output token: $5/$25 against $15/$75 is a third; a free model has no ratio."""
    from evalbudget.pricing import PriceCard, blended_price, price_ratio

    def card(inp: float, out: float) -> PriceCard:
        return PriceCard(model="m", input_mtok=inp, output_mtok=out, source="test")

    assert blended_price(card(5, 25)) == pytest.approx(10.0)
    assert price_ratio(card(5, 25), card(15, 75)) == pytest.approx(1 / 3)
    assert price_ratio(card(5, 25), card(0, 0)) is None


def test_pricing_public_api_is_pinned() -> None:
    assert sorted(pricing.__all__) == [
        "GpuCard",
        "PriceBook",
        "PriceCard",
        "PriceOverride",
        "PricingError",
        "Resolution",
        "Scenario",
        "blended_price",
        "genai_prices_source",
        "gpu_cost",
        "gpu_hours_to_usd",
        "load_scenario",
        "parse_gpu_flag",
        "parse_price_flag",
        "price_ratio",
        "token_cost",
        "token_cost_sql",
        "usd_to_gpu_hours",
    ]


HARNESS_NAMES = [
    # (name as a harness writes it, provider, genai-prices id, how it was read)
    ("openai/gpt-4o-mini", "openai", "gpt-4o-mini", "provider prefix 'openai/'"),
    ("anthropic/claude-sonnet-4-0", "anthropic", "claude-sonnet-4-0", "provider prefix 'anthropic/'"),
    ("openai/gpt-4o-2024-05-13", "openai", "gpt-4o-2024-05-13", "provider prefix 'openai/'"),
    (
        "anthropic/claude-3-5-sonnet-20240620",
        "anthropic",
        "claude-3-5-sonnet",
        "provider prefix 'anthropic/'",
    ),
    ("openai/azure/gpt-4o-mini", "azure", "gpt-4o-mini", "'openai/' dropped, provider prefix 'azure/'"),
    (
        "openai_gpt-4o-2024-05-13",
        "openai",
        "gpt-4o-2024-05-13",
        "HELM folder name: 'openai_' read as 'openai/'",
    ),
    ("gpt-4o-mini", "openai", "gpt-4o-mini", "the name as written"),
]


@pytest.mark.parametrize(
    ("name", "provider", "model", "rule"), HARNESS_NAMES, ids=[h[0] for h in HARNESS_NAMES]
)
def test_names_as_harnesses_write_them_are_priced_by_genai_prices(
    book: PriceBook, name: str, provider: str, model: str, rule: str
) -> None:
    """Inspect, LiteLLM, OpenRouter and HELM prefix the provider; genai-prices' own provider matching reads
    it, and the bare name prices the same."""
    resolution = book.resolve(name, date(2025, 6, 1))
    assert resolution.how == "genai-prices" and resolution.rule == rule
    assert resolution.card is not None
    assert (resolution.card.provider, resolution.card.model) == (provider, model)
    bare = book.resolve(model, date(2025, 6, 1)).card
    assert bare is not None and (bare.input_mtok, bare.output_mtok) == (
        resolution.card.input_mtok,
        resolution.card.output_mtok,
    )


def test_a_name_two_readings_price_differently_stays_unmatched_with_a_hint(book: PriceBook) -> None:
    """openai/cerebras/gpt-oss-120b: Cerebras' price, or OpenAI's open-weights one? Not guessed."""
    resolution = book.resolve("openai/cerebras/gpt-oss-120b")
    assert resolution.how == "unmatched" and resolution.card is None
    assert resolution.hint is not None
    assert "cerebras/gpt-oss-120b" in resolution.hint and "openai/gpt-oss-120b" in resolution.hint
    assert "aliases.toml" in resolution.hint
    assert book.resolve("mockllm/model").how == "unmatched"  # a prefix is no licence to guess


def test_ingest_prices_prefixed_names_and_prices_says_how(store_path: Path, tmp_path: Path) -> None:
    import json

    from tests.conftest import run_cli

    table = tmp_path / "run.csv"
    table.write_text(
        "benchmark,item_id,model,score,input_tokens,output_tokens,started_at\n"
        "b,1,openai/gpt-4o-mini,1,1000000,1000000,2025-06-01\n"
        "b,1,anthropic/claude-3-5-sonnet-20240620,0,1000000,1000000,2025-06-01\n"
        "b,1,openai/cerebras/gpt-oss-120b,1,1000,200,2025-06-01\n"
    )
    ingested = run_cli("ingest", str(table), "--store", str(store_path), "--json")
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["priced_rollouts"] == 2
    shown = run_cli(
        "prices", "--store", str(store_path), "--json", "openai/gpt-4o-mini", "openai/cerebras/gpt-oss-120b"
    )
    report = json.loads(shown.stdout)
    (mini,) = report["models"]
    assert mini["rule"] == "provider prefix 'openai/'" and mini["input_mtok"] == 0.15
    assert report["unmatched"] == ["openai/cerebras/gpt-oss-120b"]
    assert "could be" in report["hints"]["openai/cerebras/gpt-oss-120b"]
    text = run_cli("prices", "--store", str(store_path), "openai/cerebras/gpt-oss-120b").stdout
    assert "openai/cerebras/gpt-oss-120b: could be" in text
    import duckdb

    conn = duckdb.connect(str(store_path), read_only=True)
    costs = dict(conn.execute("SELECT model, cost_usd FROM rollouts WHERE benchmark = 'b'").fetchall())
    conn.close()
    assert costs["openai/gpt-4o-mini"] == pytest.approx(0.15 + 0.6)
    assert costs["anthropic/claude-3-5-sonnet-20240620"] == pytest.approx(3 + 15)
    assert costs["openai/cerebras/gpt-oss-120b"] is None  # unknown, never $0
