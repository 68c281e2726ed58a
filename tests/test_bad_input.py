"""Bad input, as a new user would give it: one sentence naming the flag, file, line or field, exit status 1,
no traceback, and the store exactly as it was (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import fingerprint, run_cli, write_plan


def files(tmp_path: Path) -> dict[str, Path]:
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)  # the start of an image
    nan_costs = tmp_path / "nan.csv"
    nan_costs.write_text("benchmark,item_id,model,score,cost_usd\nb,i1,m,1,0.5\nb,i2,m,0,nan\n")
    negative_tokens = tmp_path / "negative.jsonl"
    negative_tokens.write_text(
        json.dumps({"benchmark": "b", "item_id": "i1", "model": "m", "score": 1, "input_tokens": -3}) + "\n"
    )
    huge = tmp_path / "huge.jsonl"
    huge.write_text(
        json.dumps({"id": "a", "input": "hi", "target": "x", "scorer": "exact", "max_tokens": 10**14}) + "\n"
    )
    plan = write_plan(tmp_path / "plan.json", ["q1"], budget=1.0)
    return {"binary": binary, "nan": nan_costs, "negative": negative_tokens, "huge": huge, "plan": plan}


CASES = [
    (["simulate", "--benchmark", "swe-bench-verified", "--seed", "-1"], "--seed -1 must be 0 or more"),
    (["simulate", "--benchmark", "swe-bench-verified", "--replicates", "10000000"], "would need about"),
    (
        ["simulate", "--benchmark", "swe-bench-verified", "--budget", "$" + "9" * 400],
        "is not a finite number",
    ),
    (
        ["plan", "--benchmark", "swe-bench-verified", "--budget", "5%", "--all", "--out", "{tmp}"],
        "is a folder",
    ),
    (
        [
            "plan",
            "--benchmark",
            "swe-bench-verified",
            "--budget",
            "5%",
            "--all",
            "--out",
            "{tmp}/no/plan.json",
        ],
        "does not exist",
    ),
    (
        ["plan", "--benchmark", "swe-bench-verified", "--budget", "$0.01", "--all", "--out", "{tmp}/p.json"],
        "Budget '$0.01' buys no item of swe-bench-verified: the cheapest costs $",
    ),
    (["whatif", "--price", "GPT-5=nan/1"], "--price 'GPT-5=nan/1' must be MODEL=IN/OUT"),
    (["whatif", "--gpu", "H100=inf"], "--gpu 'H100=inf' must be TYPE=RATE"),
    (["whatif", "--scenario", "{binary}"], "not a text file"),
    (["ingest", "{nan}"], "line 3: column 'cost_usd' is not a finite number (nan)"),
    (["ingest", "{negative}"], "input_tokens"),
    (["items", "load", "{binary}", "--benchmark", "x"], "line 1: not UTF-8 text"),
    (
        ["items", "load", "{huge}", "--benchmark", "x"],
        "'max_tokens' must be a whole number from 1 to 10,000,000",
    ),
    (
        ["launch", "{plan}", "--backend", "openai", "--base-url", "not a url"],
        "is not an http:// or https:// URL",
    ),
    (
        ["launch", "{plan}", "--backend", "openai", "--max-spend", "nan"],
        "--max-spend should be a finite number",
    ),
    (["launch", "{plan}", "--backend", "openai", "--timeout", "0"], "--timeout should be greater than 0"),
]


@pytest.mark.parametrize(
    ("args", "expected"), CASES, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in enumerate(CASES)]
)
def test_bad_input_is_one_sentence_and_changes_nothing(
    store_path: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    given = files(tmp_path)
    argv = [a.format(tmp=tmp_path, **given) for a in args]
    before = fingerprint(store_path)
    result = run_cli(*argv, "--store", str(store_path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert fingerprint(store_path) == before
    assert not (tmp_path / "p.json").exists()
