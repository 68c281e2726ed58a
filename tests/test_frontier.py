"""`evalbudget frontier`: per-rollout and aggregate-only benchmarks, Pareto marks, repeats' variance."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from evalbudget.sample_runs import SAMPLE_DIR
from tests.conftest import planned, run_cli
from tests.test_whatif import query


def frontier(store: Path, *args: str) -> dict:
    result = run_cli("frontier", "--store", str(store), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_swe_bench_verified_points_match_the_store(store_path: Path) -> None:
    points = {p["model"]: p for p in frontier(store_path, "--benchmark", "swe-bench-verified")["points"]}
    expected = query(
        store_path,
        """SELECT model, avg(score), sum(cost_usd) / count(*) FROM rollouts
           WHERE benchmark = 'swe-bench-verified' GROUP BY model""",
    )
    assert len(points) == len(expected) == 24
    for model, accuracy, cost_per_item in expected:
        point = points[model]
        assert point["accuracy"] == pytest.approx(accuracy)
        assert point["cost_per_item_usd"] == pytest.approx(cost_per_item)
        assert point["ci95_low"] < accuracy < point["ci95_high"] and point["source"] == "rollouts"
    pareto = [p for p in points.values() if p["pareto"]]
    # the frontier: sorted by cost, accuracy strictly rises along it, and no point beats a frontier point
    pareto.sort(key=lambda p: p["cost_per_item_usd"])
    assert all(a["accuracy"] < b["accuracy"] for a, b in itertools.pairwise(pareto))
    for point in pareto:
        assert not any(
            o["cost_per_item_usd"] <= point["cost_per_item_usd"] and o["accuracy"] > point["accuracy"]
            for o in points.values()
        )
    cheapest = min(points.values(), key=lambda p: p["cost_per_item_usd"])
    best = max(points.values(), key=lambda p: p["accuracy"])
    assert cheapest["pareto"] and best["pareto"]


def test_aggregate_only_runs_are_points_too(store_path: Path) -> None:
    points = frontier(store_path, "--benchmark", "aider-polyglot")["points"]
    assert len(points) == 69 and all(p["source"] == "aggregate" for p in points)
    scaffolds = {p["scaffold"] for p in points}
    assert {"diff", "whole"} <= scaffolds
    unknown = [p for p in points if p["cost_per_item_usd"] is None]
    assert unknown and not any(p["pareto"] for p in unknown)  # unknown cost is never on the frontier


def test_repeats_variance_on_metr(store_path: Path) -> None:
    points = frontier(store_path, "--benchmark", "metr-hcast-rebench", "--target-halfwidth", "0.1")["points"]
    gpt4o = next(p for p in points if p["model"] == "GPT-4o")
    repeats = gpt4o["repeats"]
    assert repeats["mean_repeats"] > 5 and repeats["between_item"] > 0 and repeats["within_item"] > 0
    items = gpt4o["items"]
    k = repeats["repeats_needed"]
    assert k is not None and k >= 1

    def halfwidth(repeats_per_item: int) -> float:
        return 1.96 * ((repeats["between_item"] + repeats["within_item"] / repeats_per_item) / items) ** 0.5

    assert halfwidth(k) <= 0.1 + 1e-9
    assert k == 1 or halfwidth(k - 1) > 0.1  # the fewest repeats that reach the target
    assert gpt4o["cost_per_item_usd"] is None and gpt4o["unpriced_rollouts"] > 0


def test_unknown_benchmark_is_one_sentence(store_path: Path) -> None:
    result = run_cli("frontier", "--store", str(store_path), "--benchmark", "nope")
    assert result.returncode == 1 and "'nope' has no rollouts or aggregate runs" in result.stderr


def test_hal_leaderboard_frontiers_compare_whole_runs(store_path: Path) -> None:
    """The sample store holds HAL's leaderboard (aggregate records with recorded cost and no item counts):
    each HAL benchmark's frontier compares whole runs by what they cost, and info counts their cost."""
    hal = json.loads((SAMPLE_DIR / "manifest.json").read_text())["datasets"]["hal"]
    info = json.loads(run_cli("info", "--store", str(store_path), "--json").stdout)
    by_benchmark = {b["benchmark"]: b for b in info["by_benchmark"]}
    assert sum(by_benchmark[b]["aggregate_cost_usd"] for b in hal["benchmarks"]) == pytest.approx(
        hal["recorded_cost_usd"]
    )
    assert len(hal["benchmarks"]) == 9
    for benchmark in hal["benchmarks"]:
        result = frontier(store_path, "--benchmark", benchmark)
        points = result["points"]
        assert result["cost_basis"] == "run" and len(points) == by_benchmark[benchmark]["aggregate_runs"]
        assert all(p["items"] is None and p["cost_per_item_usd"] is None for p in points)
        priced = [p for p in points if p["run_cost_usd"] is not None]
        for point in priced:
            dominated = any(
                o["run_cost_usd"] <= point["run_cost_usd"]
                and o["accuracy"] >= point["accuracy"]
                and (o["run_cost_usd"] < point["run_cost_usd"] or o["accuracy"] > point["accuracy"])
                for o in priced
            )
            assert point["pareto"] == (not dominated), (benchmark, point)
        assert min(priced, key=lambda p: p["run_cost_usd"])["pareto"]
    gaia = frontier(store_path, "--benchmark", "gaia")["points"]
    costliest = max(gaia, key=lambda p: p["run_cost_usd"] or 0.0)
    # the seed's own figure: "a single GAIA run on a frontier model can cost $2,829"
    assert costliest["model"].startswith("openai/o3 ") and costliest["scaffold"].startswith(
        "HAL Generalist Agent"
    )
    assert costliest["run_cost_usd"] == pytest.approx(2828.54)
    text = run_cli("frontier", "--store", str(store_path), "--benchmark", "gaia").stdout
    assert "$/run" in text and "2,828.54" in text


def test_a_replayed_launch_adds_no_point(store_path: Path, tmp_path: Path) -> None:
    """A replay copies stored rollouts (under the plan's candidate, scaffold ''): the frontier is unchanged."""
    before = frontier(store_path, "--benchmark", "swe-bench-verified")["points"]
    plan = planned(
        store_path, tmp_path / "plan.json", "--benchmark", "swe-bench-verified", "--budget", "$20",
        "--candidates", "o3 (2025-04-16),Minimax M2", "--strategy", "random", "--replicates", "20",
    )  # fmt: skip
    replayed = run_cli("launch", str(plan), "--backend", "replay", "--store", str(store_path))
    assert replayed.returncode == 0, replayed.stderr
    after = frontier(store_path, "--benchmark", "swe-bench-verified")["points"]

    def key(points: list[dict]) -> list[tuple]:
        return [(p["model"], p["scaffold"], p["items"], p["pareto"]) for p in points]

    assert key(after) == key(before)  # the same points: no copy under scaffold ''
    # the same figures, up to the order DuckDB's threads sum in
    assert [p["cost_per_item_usd"] for p in after] == pytest.approx([p["cost_per_item_usd"] for p in before])
    assert [p["accuracy"] for p in after] == pytest.approx([p["accuracy"] for p in before])
