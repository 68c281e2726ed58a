"""compare and power: the paired statistics, checked against scipy on the store's real results."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats

from tests.conftest import run_cli

O3, GPT5 = "o3 (2025-04-16)", "GPT-5 (2025-08-07) (medium reasoning)"


def _item_means(store: Path, benchmark: str, model: str) -> dict[str, float]:
    conn = duckdb.connect(str(store), read_only=True)
    rows = conn.execute(
        "SELECT item_id, avg(coalesce(score, 0)) FROM rollouts WHERE benchmark = ? AND model = ? GROUP BY 1",
        [benchmark, model],
    ).fetchall()
    conn.close()
    return {str(i): float(s) for i, s in rows}


def test_compare_is_a_paired_t_test_on_the_shared_items(store_path: Path) -> None:
    result = run_cli(
        "compare", O3, GPT5, "--benchmark", "swe-bench-verified", "--store", str(store_path), "--json"
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    a, b = (
        _item_means(store_path, "swe-bench-verified", O3),
        _item_means(store_path, "swe-bench-verified", GPT5),
    )
    shared = sorted(set(a) & set(b))
    x, y = np.array([a[i] for i in shared]), np.array([b[i] for i in shared])
    expected = stats.ttest_rel(x, y)
    interval = expected.confidence_interval(0.95)
    assert got["items"] == len(shared) == 500
    assert got["difference"] == pytest.approx(float((x - y).mean()))
    assert got["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-6)
    assert (got["low"], got["high"]) == pytest.approx((interval.low, interval.high))
    assert got["standard_error"] < got["unpaired_standard_error"]  # pairing is worth it on shared items
    text = run_cli(
        "compare", O3, GPT5, "--benchmark", "swe-bench-verified", "--store", str(store_path)
    ).stdout
    assert f"{GPT5} is better" in text

    fuzzy = run_cli("compare", "o3", GPT5, "--benchmark", "swe-bench-verified", "--store", str(store_path))
    assert fuzzy.returncode == 1 and f"did you mean {O3!r}" in fuzzy.stderr and fuzzy.stderr.count("\n") == 1


def test_compare_with_repeats_says_how_much_noise_they_add(store_path: Path) -> None:
    conn = duckdb.connect(str(store_path), read_only=True)
    a, b = [r[0] for r in conn.execute(
        "SELECT DISTINCT model FROM rollouts WHERE benchmark = 'metr-hcast-rebench' ORDER BY 1 LIMIT 2").fetchall()]  # fmt: skip
    conn.close()
    result = run_cli(
        "compare", a, b, "--benchmark", "metr-hcast-rebench", "--store", str(store_path), "--json"
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["repeats"] > 1 and 0 < got["repeat_share"] < 1


def test_power_finds_the_items_a_difference_needs(store_path: Path) -> None:
    def items(difference: str) -> dict[str, object]:
        result = run_cli(
            "power", "--benchmark", "swe-bench-verified", "--difference", difference, "--store", str(store_path),
            "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    two, five = items("0.02"), items("0.05")
    sd = float(two["sd_difference"])  # type: ignore[arg-type]
    # n = ((z_0.975 + z_0.8) sd / d)^2, with Student's t at n - 1 degrees of freedom
    n = int(two["items_needed"])  # type: ignore[call-overload]
    t = stats.t(df=n - 1)
    assert n == math.ceil(((t.ppf(0.975) + t.ppf(0.8)) * sd / 0.02) ** 2)
    assert int(five["items_needed"]) == pytest.approx(n * (0.02 / 0.05) ** 2, rel=0.02)  # type: ignore[call-overload]
    assert two["usd_per_candidate"] is not None and float(two["usd_per_candidate"]) > 0  # type: ignore[arg-type]
    bad = run_cli(
        "power", "--benchmark", "swe-bench-verified", "--difference", "2", "--store", str(store_path)
    )
    assert bad.returncode == 1 and "must be a share between 0 and 1" in bad.stderr
