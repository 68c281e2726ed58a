"""`evalbudget whatif` and `evalbudget prices` on the sample store, checked against direct DuckDB queries."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_cli
from tests.test_ingest_table import ingest


def whatif(store: Path, *args: str) -> dict:
    result = run_cli("whatif", "--store", str(store), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def query(store: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_null_scenario_changes_nothing(store_path: Path) -> None:
    report = whatif(store_path, "--by", "benchmark")
    assert report["scenario_cost_usd"] == report["baseline_cost_usd"]
    for row in report["rows"]:
        assert row["scenario_cost_usd"] == row["baseline_cost_usd"]
        assert row["scenario_accuracy"] == row["baseline_accuracy"]
        assert row["capped_rollouts"] == 0
    (recorded,) = query(store_path, "SELECT sum(cost_usd) FROM rollouts")
    assert report["baseline_cost_usd"] == pytest.approx(recorded[0])
    metr = next(r for r in report["rows"] if r["key"] == "metr-hcast-rebench")
    assert metr["baseline_cost_usd"] is None and metr["unpriced_rollouts"] == metr["rollouts"]


def test_cost_cap_on_swe_bench_verified(store_path: Path) -> None:
    report = whatif(store_path, "--benchmark", "swe-bench-verified", "--cost-cap", "1")
    expected = dict(
        query(
            store_path,
            """SELECT model, avg(CASE WHEN score = 1 AND cost_usd <= 1 THEN 1.0 ELSE 0.0 END)
               FROM rollouts WHERE benchmark = 'swe-bench-verified' GROUP BY model""",
        )
    )
    assert {r["key"] for r in report["rows"]} == set(expected)
    for row in report["rows"]:
        assert row["scenario_accuracy"] == pytest.approx(expected[row["key"]], abs=1e-12)
    ((capped_cost,),) = query(
        store_path, "SELECT sum(least(cost_usd, 1)) FROM rollouts WHERE benchmark = 'swe-bench-verified'"
    )
    assert report["scenario_cost_usd"] == pytest.approx(capped_cost)
    assert any(r["capped_rollouts"] > 100 for r in report["rows"])


def test_price_override_on_swe_bench_pro(store_path: Path) -> None:
    report = whatif(store_path, "--benchmark", "swe-bench-pro-public", "--price", "GPT-5=1/8")
    ((tokens_priced,),) = query(
        store_path,
        """SELECT sum((input_tokens * 1 + output_tokens * 8) / 1e6) FROM rollouts
           WHERE benchmark = 'swe-bench-pro-public' AND model = 'GPT-5'""",
    )
    gpt5 = next(r for r in report["rows"] if r["key"] == "GPT-5")
    claude = next(r for r in report["rows"] if r["key"] == "Claude 4.5 Sonnet")
    assert gpt5["scenario_cost_usd"] == pytest.approx(tokens_priced)
    assert claude["scenario_cost_usd"] == claude["baseline_cost_usd"]


def test_cache_hit_rate_moves_input_to_the_cache_price(store_path: Path) -> None:
    report = whatif(
        store_path,
        "--benchmark",
        "swe-bench-pro-public",
        "--cache-hit-rate",
        "0.5",
        "--price",
        "GPT-5=1.25/10",
    )
    ((tokens_priced,),) = query(
        store_path,
        """SELECT sum((input_tokens * 0.5 * 1.25 + input_tokens * 0.5 * 0.125 + output_tokens * 10) / 1e6)
           FROM rollouts WHERE benchmark = 'swe-bench-pro-public' AND model = 'GPT-5'""",
    )
    gpt5 = next(r for r in report["rows"] if r["key"] == "GPT-5")
    # the override names no cache price, so the book's (GPT-5: $0.125/Mtok) applies to the cached half
    assert gpt5["scenario_cost_usd"] == pytest.approx(tokens_priced)
    claude = next(r for r in report["rows"] if r["key"] == "Claude 4.5 Sonnet")
    ((saving,),) = query(
        store_path,
        """SELECT sum(input_tokens * 0.5 * (3 - 0.3) / 1e6) FROM rollouts
           WHERE benchmark = 'swe-bench-pro-public' AND model = 'Claude 4.5 Sonnet'""",
    )
    assert claude["baseline_cost_usd"] - claude["scenario_cost_usd"] == pytest.approx(saving)


def test_batch_discount_and_token_cap(store_path: Path) -> None:
    half = whatif(store_path, "--benchmark", "swe-bench-verified", "--batch-discount", "0.5")
    assert half["scenario_cost_usd"] == pytest.approx(half["baseline_cost_usd"] / 2)
    capped = whatif(store_path, "--benchmark", "swe-bench-pro-public", "--token-cap", "2000000")
    ((over, kept_score, cost),) = query(
        store_path,
        """SELECT count(*) FILTER (WHERE input_tokens + output_tokens > 2e6),
                  sum(score) FILTER (WHERE input_tokens + output_tokens <= 2e6),
                  sum(CASE WHEN input_tokens + output_tokens > 2e6
                           THEN cost_usd * 2e6 / (input_tokens + output_tokens) ELSE cost_usd END)
           FROM rollouts WHERE benchmark = 'swe-bench-pro-public'""",
    )
    assert sum(r["capped_rollouts"] for r in capped["rows"]) == over > 0
    assert sum(r["scenario_accuracy"] * r["rollouts"] for r in capped["rows"]) == pytest.approx(kept_score)
    assert capped["scenario_cost_usd"] == pytest.approx(cost)


def test_gpu_rollouts_are_priced_with_the_gpu_card(store_path: Path, tmp_path: Path) -> None:
    table = tmp_path / "local.csv"
    table.write_text(
        "benchmark,item_id,model,score,gpu_seconds,gpu_type\nlocal,1,smollm2,1,3600,H100\nlocal,2,smollm2,0,1800,H100\n"
    )
    ingest(store_path, str(table))
    baseline = whatif(store_path, "--benchmark", "local")
    assert baseline["baseline_cost_usd"] == pytest.approx(1.5 * 2.50)  # shipped H100 card: $2.50/GPU-hour
    cheaper = whatif(store_path, "--benchmark", "local", "--gpu", "H100=1")
    assert cheaper["scenario_cost_usd"] == pytest.approx(1.5)


def test_every_model_is_priced_or_listed_as_unmatched(store_path: Path) -> None:
    result = run_cli("prices", "--store", str(store_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    listed = [m["model"] for m in report["models"]] + report["unmatched"]
    (models,) = zip(
        *query(
            store_path,
            "SELECT DISTINCT model FROM rollouts UNION SELECT DISTINCT model FROM runs WHERE aggregate_only",
        ),
        strict=True,
    )
    assert sorted(listed) == sorted(models)
    for model in report["models"]:
        assert model.keys() >= {
            "model",
            "matched_id",
            "provider",
            "input_mtok",
            "output_mtok",
            "cache_read_mtok",
            "source",
        }
        assert model["input_mtok"] is not None and model["source"]
    assert "NullModel" in report["unmatched"]
    swe = {m["model"]: m for m in report["models"]}
    assert swe["Claude 4.5 Opus medium (20251101)"]["matched_id"] == "claude-opus-4-5"


def test_prices_for_named_models(store_path: Path) -> None:
    result = run_cli(
        "prices", "claude-opus-4-1", "gemini-2.0-flash", "no-such-model", "--store", str(store_path), "--json"
    )
    report = json.loads(result.stdout)
    cards = {m["model"]: m for m in report["models"]}
    assert cards["claude-opus-4-1"]["input_mtok"] == 15 and cards["claude-opus-4-1"]["output_mtok"] == 75
    assert cards["gemini-2.0-flash"]["input_mtok"] == 0.1 and cards["gemini-2.0-flash"]["output_mtok"] == 0.4
    assert report["unmatched"] == ["no-such-model"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--batch-discount", "2"], "field 'batch_discount' input should be less than 1"),
        (["--price", "GPT-5"], "must be MODEL=IN/OUT"),
        (["--price", "Nobody=1/2"], "'Nobody', which is not a model in the store"),
        (["--gpu", "H100=free"], "must be TYPE=RATE"),
        (["--benchmark", "nope"], "Benchmark 'nope' has no per-rollout data"),
    ],
)
def test_bad_flags_are_one_sentence(store_path: Path, args: list[str], expected: str) -> None:
    result = run_cli("whatif", "--store", str(store_path), *args)
    assert result.returncode == 1
    assert expected in result.stderr and result.stderr.count("\n") == 1


def test_a_bad_scenario_file_names_the_field(store_path: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text("cache_hit_rate = -0.1\n")
    result = run_cli("whatif", "--store", str(store_path), "--scenario", str(scenario))
    assert result.returncode == 1
    assert f"{scenario}: field 'cache_hit_rate'" in result.stderr


def test_ingest_prices_token_only_rollouts(store_path: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(
        "benchmark,item_id,model,score,input_tokens,output_tokens,started_at\n"
        "tok,1,claude-opus-4-1,1,1000000,1000000,2025-09-01\n"
        "tok,2,gemini-2.0-flash,0,1000000,1000000,2025-09-01\n"
        "tok,3,NullModel,1,5,5,2025-09-01\n"
    )
    mixed = tmp_path / "mixed.csv"  # the source records a cost on one row: the others stay unknown
    mixed.write_text(
        "benchmark,item_id,model,score,input_tokens,output_tokens,cost_usd\n"
        "mix,1,claude-opus-4-1,1,1000,1000,0.5\nmix,2,claude-opus-4-1,1,1000,1000,\n"
    )
    report = ingest(store_path, str(tokens), str(mixed))
    assert report["priced_rollouts"] == 2
    got = dict(
        (r[0], r[1:])
        for r in query(
            store_path, "SELECT model, cost_usd, cost_source FROM rollouts WHERE benchmark = 'tok'"
        )
    )
    assert got["claude-opus-4-1"] == (pytest.approx(90.0), "priced")
    assert got["gemini-2.0-flash"] == (pytest.approx(0.5), "priced")
    assert got["NullModel"] == (None, "unknown")  # no price: unknown, never $0
    assert query(
        store_path, "SELECT count(*) FROM rollouts WHERE benchmark = 'mix' AND cost_usd IS NULL"
    ) == [(1,)]
    versions = query(
        store_path, f"SELECT price_version FROM runs WHERE run_id = '{report['files'][0]['run_id']}'"
    )
    assert versions[0][0].startswith("genai-prices ")
