"""Inspect AI logs written by the real `inspect eval` (mockllm provider, offline), .eval and .json."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import zipfile_zstd  # noqa: F401  (Inspect's .eval members are Zstandard-compressed)

from tests.conftest import fingerprint, run_cli, write_inspect_log
from tests.test_ingest_table import ingest, rows


def test_eval_log_ingests_and_shows_up_in_info(store_path: Path, inspect_eval_log: Path) -> None:
    report = ingest(store_path, str(inspect_eval_log))
    (file,) = report["files"]
    assert file["format"] == "inspect" and file["rollouts"] == 10 and file["items"] == 5
    got = rows(
        store_path,
        """
        SELECT item_id, "repeat", score, status, input_tokens > 0, output_tokens > 0, cost_source
        FROM rollouts WHERE benchmark = 'arith' AND model = 'mockllm/model' ORDER BY item_id, "repeat" """,
    )
    assert len(got) == 10
    # includes() scores C (1.0) on odd items, I (0.0) on even ones; epochs 1-2 become repeats 0-1
    assert [(g[0], g[1], g[2]) for g in got[:4]] == [
        ("q0", 0, 0.0),
        ("q0", 1, 0.0),
        ("q1", 0, 1.0),
        ("q1", 1, 1.0),
    ]
    assert all(g[3] == "ok" and g[4] and g[5] and g[6] == "unknown" for g in got)
    info = json.loads(run_cli("info", "--json", "--store", str(store_path)).stdout)
    arith = next(b for b in info["by_benchmark"] if b["benchmark"] == "arith")
    assert arith == {
        **arith,
        "models": 1,
        "items": 5,
        "rollouts": 10,
        "cost_usd": None,
        "unpriced_rollouts": 10,
    }


def test_json_log_ingests(store_path: Path, inspect_json_log: Path) -> None:
    report = ingest(store_path, str(inspect_json_log), "--format", "inspect")
    assert report["rollouts_added"] == 10
    assert rows(store_path, "SELECT sum(score) FROM rollouts WHERE benchmark = 'arith'") == [(4.0,)]


def test_corrupted_eval_log_names_the_member(
    store_path: Path, inspect_eval_log: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.eval"
    with zipfile.ZipFile(inspect_eval_log) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "samples/q2_epoch_1.json":
                data = data[: len(data) // 2]  # a log cut off mid-write
            target.writestr(item, data)
    before = fingerprint(store_path)
    result = run_cli("ingest", "--store", str(store_path), str(broken))
    assert result.returncode == 1
    assert (
        "broken.eval, member samples/q2_epoch_1.json" in result.stderr and "not valid JSON" in result.stderr
    )
    assert fingerprint(store_path) == before


def test_truncated_json_log_names_the_line(store_path: Path, inspect_json_log: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    text = inspect_json_log.read_text()
    broken.write_text(text[: len(text) // 3])
    before = fingerprint(store_path)
    result = run_cli("ingest", "--store", str(store_path), str(broken), "--format", "inspect")
    assert result.returncode == 1
    assert "broken.json, line " in result.stderr and "not valid JSON" in result.stderr
    assert fingerprint(store_path) == before


def test_a_score_outside_the_unit_interval_is_refused(
    store_path: Path, inspect_json_log: Path, tmp_path: Path
) -> None:
    log = json.loads(inspect_json_log.read_text())
    log["samples"][3]["scores"]["includes"]["value"] = 7
    bad = tmp_path / "scored.json"
    bad.write_text(json.dumps(log))
    result = run_cli("ingest", "--store", str(store_path), str(bad))
    assert result.returncode == 1 and "samples[3]: score 7 is outside [0, 1]" in result.stderr


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("abc", "has input_tokens 'abc', not a finite number of 0 or more"),
        (12.7, "has input_tokens 12.7, not a whole number"),
    ],
)
def test_a_token_count_that_is_not_a_count_is_refused(
    store_path: Path, inspect_json_log: Path, tmp_path: Path, value: object, said: str
) -> None:
    """Usage that is not a whole number of 0 or more is refused in one sentence naming the rollout, never
    truncated (12.7 was read as 12) nor a traceback ('abc'); the store is unchanged."""
    log = json.loads(inspect_json_log.read_text())
    log["samples"][2]["model_usage"]["mockllm/model"]["input_tokens"] = value
    bad = tmp_path / "usage.json"
    bad.write_text(json.dumps(log))
    before = fingerprint(store_path)
    result = run_cli("ingest", "--store", str(store_path), str(bad))
    assert result.returncode == 1 and fingerprint(store_path) == before
    assert "usage.json, rollout 3: the rollout of 'mockllm/model' on item" in result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


def test_errors_and_limits_become_statuses(store_path: Path, inspect_json_log: Path, tmp_path: Path) -> None:
    log = json.loads(inspect_json_log.read_text())
    log["samples"][0]["error"] = {"message": "boom", "traceback": "", "traceback_ansi": ""}
    log["samples"][1]["limit"] = {"type": "token", "limit": 10}
    log["samples"][2]["model_usage"]["mockllm/model"]["total_cost"] = 0.25
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(log))
    ingest(store_path, str(edited))
    got = rows(
        store_path,
        """
        SELECT item_id, "repeat", status, score, cost_usd, cost_source FROM rollouts
        WHERE benchmark = 'arith' ORDER BY item_id, "repeat" """,
    )
    by_key = {(g[0], g[1]): g[2:] for g in got}
    first, second, third = (log["samples"][i] for i in range(3))
    assert by_key[(first["id"], first["epoch"] - 1)][:2] == ("error", None)
    assert by_key[(second["id"], second["epoch"] - 1)][0] == "limit"
    assert by_key[(third["id"], third["epoch"] - 1)][2:] == (0.25, "recorded")


def test_a_folder_of_logs(store_path: Path, inspect_eval_log: Path, tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(inspect_eval_log, folder)
    assert ingest(store_path, str(folder))["rollouts_added"] == 10


GRADED_TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import model_graded_qa
from inspect_ai.solver import generate


@task
def graded():
    # mockllm/grader answers without a grade, so Inspect writes each score as NaN (grader_failed)
    return Task(
        dataset=[Sample(input=f"What is {i}+{i}?", target=str(2 * i), id=f"q{i}") for i in range(3)],
        solver=generate(),
        scorer=model_graded_qa(model="mockllm/grader"),
    )
"""


@pytest.fixture(scope="module")
def graded_log(tmp_path_factory: pytest.TempPathFactory, tiktoken_cache: Path) -> Path:
    return write_inspect_log(tmp_path_factory.mktemp("graded"), tiktoken_cache, "json", task=GRADED_TASK)


def test_a_model_graders_tokens_are_priced_at_the_graders_price(
    store_path: Path, tmp_path: Path, graded_log: Path
) -> None:
    """A sample's model_usage names the evaluated model and its grader: each model's tokens are priced at its own
    price (the grader's are not the evaluated model's, nor priced at its rate); the token columns keep the
    evaluated model's own usage; a grade Inspect could not give (NaN) is no score; a grader with no price
    leaves the cost unknown, never a partial sum."""
    samples = {(s["id"], s["epoch"] - 1): s for s in json.loads(graded_log.read_text())["samples"]}
    assert all(set(s["model_usage"]) == {"mockllm/model", "mockllm/grader"} for s in samples.values())
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[models."mockllm/model"]\ninput_mtok = 1.0\noutput_mtok = 2.0\n\n'
        '[models."mockllm/grader"]\ninput_mtok = 10.0\noutput_mtok = 20.0\n'
    )
    report = ingest(store_path, str(graded_log), "--prices", str(prices))
    assert report["rollouts_added"] == len(samples) == 6 and report["priced_rollouts"] == 6  # 2 epochs
    got = rows(
        store_path,
        'SELECT item_id, "repeat", score, status, input_tokens, output_tokens, cost_usd, cost_source FROM '
        "rollouts WHERE benchmark = 'graded' ORDER BY item_id, 2",
    )
    expected = []
    for (item, repeat), sample in sorted(samples.items()):
        own, grader = sample["model_usage"]["mockllm/model"], sample["model_usage"]["mockllm/grader"]
        cost = (own["input_tokens"] * 1 + own["output_tokens"] * 2) / 1e6
        cost += (grader["input_tokens"] * 10 + grader["output_tokens"] * 20) / 1e6
        expected.append(
            (
                item,
                repeat,
                None,
                "error",
                own["input_tokens"],
                own["output_tokens"],
                pytest.approx(cost),
                "priced",
            )
        )
    assert got == expected

    only_model = tmp_path / "only_model.toml"
    only_model.write_text('[models."mockllm/model"]\ninput_mtok = 1.0\noutput_mtok = 2.0\n')
    unknown = run_cli("ingest", "--store", str(tmp_path / "fresh.duckdb"), "--json", "--prices", str(only_model),
                      str(graded_log))  # fmt: skip
    assert unknown.returncode == 0, unknown.stderr
    assert json.loads(unknown.stdout)["priced_rollouts"] == 0
    assert rows(
        tmp_path / "fresh.duckdb",
        "SELECT DISTINCT cost_usd, cost_source FROM rollouts WHERE benchmark = 'graded'",
    ) == [(None, "unknown")]


HEADER_ONLY = Path(__file__).parent / "fixtures" / "inspect" / "simpleqa_verified_header_only.json"


def test_a_real_header_only_log_without_a_version_field_is_known_as_inspect(store_path: Path) -> None:
    """Inspect requires a log's eval spec (task, model), not its version: a real header-only log without one
    is told apart as Inspect and stored as one aggregate-only run from its header (see PROVENANCE.md)."""
    header = json.loads(HEADER_ONLY.read_text())
    assert "version" not in header and "samples" not in header
    report = ingest(store_path, str(HEADER_ONLY))
    assert report["files"][0]["format"] == "inspect" and report["aggregate_runs_added"] == 1
    assert rows(
        store_path,
        "SELECT benchmark, model, n_items, accuracy FROM runs WHERE aggregate_only AND harness = 'inspect' "
        "AND benchmark = 'simpleqa_verified'",
    ) == [("simpleqa_verified", header["eval"]["model"], header["eval"]["dataset"]["samples"],
           header["results"]["scores"][0]["metrics"]["accuracy"]["value"])]  # fmt: skip


REASONING_TASK = """
import itertools

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import match
from inspect_ai.solver import generate


def answer(i):
    out = ModelOutput.from_content(model="mockllm/model", content=str(2 * i))
    # as Inspect's providers report it: output_tokens is the total output, reasoning included; input_tokens
    # leave out the tokens read from and written to the prompt cache (Anthropic's usage, say)
    out.usage = ModelUsage(
        input_tokens=100, input_tokens_cache_read=20, input_tokens_cache_write=50, output_tokens=40 + i,
        reasoning_tokens=30, total_tokens=210 + i,
    )
    return out


@task
def reasoning():
    return Task(
        dataset=[Sample(input=f"What is {i}+{i}?", target=str(2 * i), id=f"q{i}") for i in range(3)],
        solver=generate(),
        scorer=match(),
        model=get_model("mockllm/model", custom_outputs=(answer(i % 3) for i in itertools.count())),
    )
"""


def test_usage_is_priced_as_inspect_reports_it(
    store_path: Path, tmp_path: Path, tiktoken_cache: Path
) -> None:
    """Inspect's output_tokens include the reasoning tokens (ModelUsage: "total output tokens used"); the store
    keeps them apart, as the launcher does, so that (output + reasoning) x the output rate counts each once.
    Tokens read from the prompt cache and written to it are priced at the cache-read and cache-write prices."""
    log = write_inspect_log(tmp_path / "reasoning", tiktoken_cache, "json", task=REASONING_TASK)
    samples = json.loads(log.read_text())["samples"]
    assert all(s["model_usage"]["mockllm/model"]["reasoning_tokens"] == 30 for s in samples)
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[models."mockllm/model"]\ninput_mtok = 1.0\noutput_mtok = 2.0\ncache_read_mtok = 0.1\n'
        "cache_write_mtok = 1.25\n"
    )
    report = ingest(store_path, str(log), "--prices", str(prices))
    assert report["priced_rollouts"] == len(samples) == 6
    got = rows(
        store_path,
        'SELECT item_id, "repeat", cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, '
        "cost_usd FROM rollouts WHERE benchmark = 'reasoning' ORDER BY 1, 2",
    )
    expected = []
    for sample in sorted(samples, key=lambda s: (s["id"], s["epoch"])):
        usage = sample["model_usage"]["mockllm/model"]
        total_output = usage["output_tokens"]
        expected.append(
            (
                sample["id"],
                sample["epoch"] - 1,
                usage["input_tokens_cache_read"],
                usage["input_tokens_cache_write"],
                total_output - 30,
                30,
                pytest.approx(
                    (
                        usage["input_tokens"] * 1
                        + usage["input_tokens_cache_read"] * 0.1
                        + usage["input_tokens_cache_write"] * 1.25
                        + total_output * 2
                    )
                    / 1e6
                ),
            )
        )
    assert got == expected


def test_a_header_only_logs_usage_is_priced_model_by_model(store_path: Path, tmp_path: Path) -> None:
    """With no cost recorded, the header's stats.model_usage is priced model by model at each model's own price
    (Claude Opus 4.6 answered, Gemini 2.0 Flash graded); the run keeps the price version it was priced with."""
    usage = json.loads(HEADER_ONLY.read_text())["stats"]["model_usage"]
    assert set(usage) == {"anthropic/claude-opus-4-6", "google/gemini-2.0-flash-001"}
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[models."anthropic/claude-opus-4-6"]\ninput_mtok = 5.0\noutput_mtok = 25.0\n\n'
        '[models."google/gemini-2.0-flash-001"]\ninput_mtok = 0.1\noutput_mtok = 0.4\n'
    )
    ingest(store_path, str(HEADER_ONLY), "--prices", str(prices))
    opus, flash = usage["anthropic/claude-opus-4-6"], usage["google/gemini-2.0-flash-001"]
    expected = (opus["input_tokens"] * 5 + opus["output_tokens"] * 25) / 1e6
    expected += (flash["input_tokens"] * 0.1 + flash["output_tokens"] * 0.4) / 1e6
    ((cost, version),) = rows(
        store_path,
        "SELECT total_cost_usd, price_version FROM runs WHERE aggregate_only AND benchmark = 'simpleqa_verified'",
    )
    assert cost == pytest.approx(expected) and cost == pytest.approx(2.1779952)
    assert version is not None
