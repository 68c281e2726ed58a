"""lm-eval results files on their own (issue 11): real Pythia checkpoint results (tests/fixtures/lm_eval,
see its PROVENANCE.md) become aggregate-only task results with item counts, few-shot scaffolds and the
checkpoint each model is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from evalbudget.engine.store import migrate
from tests.conftest import fingerprint, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "lm_eval"
SERIES = "EleutherAI/pythia-v1.1-70m"


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    """A store with no data: the sample store holds the Pythia series these files belong to."""
    path = tmp_path / "store.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn)
    conn.close()
    return path


def ingest(store: Path, *args: str) -> dict:
    result = run_cli("ingest", "--store", str(store), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def runs(store: Path, where: str = "true") -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(
            "SELECT benchmark, model, scaffold, n_items, accuracy FROM runs WHERE harness = 'lm-eval' AND "
            f"{where} ORDER BY model, scaffold, benchmark"
        ).fetchall()
    finally:
        conn.close()


def test_a_folder_of_checkpoint_results_becomes_a_series(empty_store: Path, tmp_path: Path) -> None:
    store_path = empty_store
    folder = tmp_path / "pythia-70m"
    shutil.copytree(FIXTURES, folder)
    report = ingest(store_path, str(folder))
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert set(files) == {"70m_step1000.json", "70m_step143000.json", "70m-5shot_step143000.json"}
    raw = {name: json.loads((FIXTURES / name).read_text()) for name in files}
    for name, data in raw.items():
        scored = [t for t, m in data["results"].items() if "acc" in m]
        assert files[name]["aggregate_runs"] == len(scored)  # every task with an accuracy
        assert sorted(files[name]["skipped_tasks"]) == sorted(set(data["results"]) - set(scored))
    assert report["aggregate_runs_added"] == sum(f["aggregate_runs"] for f in files.values())
    stored = {(b, m, s): (n, a) for b, m, s, n, a in runs(store_path)}
    zero = raw["70m_step1000.json"]["results"]["arc_easy"]
    assert stored[("arc_easy", f"{SERIES}@step1000", "")] == (
        2376,
        zero["acc"],
    )  # ARC-Easy's test split: 2,376
    five = raw["70m-5shot_step143000.json"]["results"]["arc_challenge"]
    assert stored[("arc_challenge", f"{SERIES}@step143000", "5-shot")] == (1172, five["acc"])
    assert stored[("hendrycksTest-abstract_algebra", f"{SERIES}@step1000", "")][0] == 100
    conn = duckdb.connect(str(store_path), read_only=True)
    checkpoints = conn.execute("SELECT model, series, step FROM checkpoints ORDER BY step").fetchall()
    conn.close()
    assert checkpoints == [(f"{SERIES}@step1000", SERIES, 1000), (f"{SERIES}@step143000", SERIES, 143000)]
    info = json.loads(run_cli("info", "--store", str(store_path), "--json").stdout)
    tasks = {b for b, m, *_ in stored if m.startswith(SERIES)}
    assert info["checkpoint_series"] == [
        {
            "series": SERIES,
            "checkpoints": 2,
            "benchmarks": len(tasks),
            "first_step": 1000,
            "last_step": 143000,
        }
    ]


def test_results_are_stored_once_whatever_the_bytes(store_path: Path, tmp_path: Path) -> None:
    first = tmp_path / "70m_step1000.json"
    shutil.copy(FIXTURES / first.name, first)
    added = ingest(store_path, str(first))["aggregate_runs_added"]
    before = fingerprint(store_path)
    assert ingest(store_path, str(first))["files"][0]["skipped"]
    first.write_text(json.dumps(json.loads(first.read_text()), indent=1))  # the same results, other bytes
    again = ingest(store_path, str(first))
    assert again["aggregate_runs_added"] == 0 and again["files"][0]["duplicates"] == added
    assert fingerprint(store_path) == before


def test_metric_chooses_the_score_and_a_file_with_none_is_one_sentence(
    empty_store: Path, tmp_path: Path
) -> None:
    store_path = empty_store
    path = tmp_path / "70m_step1000.json"
    shutil.copy(FIXTURES / path.name, path)
    ingest(store_path, str(path), "--metric", "acc_norm")
    norm = json.loads(path.read_text())["results"]["arc_easy"]["acc_norm"]
    assert runs(store_path, "benchmark = 'arc_easy'")[0][4] == norm
    only_ppl = tmp_path / "ppl.json"
    data = json.loads(path.read_text())
    data["results"] = {"lambada_openai": {"ppl": 4465.3, "ppl_stderr": 200.2}}
    only_ppl.write_text(json.dumps(data))
    before = fingerprint(store_path)
    result = run_cli("ingest", "--store", str(store_path), str(only_ppl))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"{only_ppl}: no task reports a score in [0, 1]" in result.stderr and "--metric" in result.stderr
    assert fingerprint(store_path) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"results": {"arc_easy": {"acc": 0.5}}, "config": {"model": "hf"}}', "names no model"),
        ('{"some": "json"}', "a JSON file evalbudget does not know"),
    ],
)
def test_json_that_is_no_known_format_is_named(
    store_path: Path, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "results.json"
    path.write_text(text)
    result = run_cli("ingest", "--store", str(store_path), str(path))
    assert result.returncode == 1 and expected in result.stderr and str(path) in result.stderr


EEE = Path(__file__).parent / "fixtures" / "eee"
HELM = Path(__file__).parent / "fixtures" / "helm" / "v3"
HAL = Path(__file__).parent / "fixtures" / "hal"


def test_keep_going_stores_the_good_files_of_a_folder_and_names_the_bad_one(
    store_path: Path, tmp_path: Path, inspect_eval_log: Path, inspect_json_log: Path
) -> None:
    """A folder of real logs of six formats (Inspect .eval and .json written by inspect eval, lm-eval results,
    a HELM suite, an Every Eval Ever record, a HAL upload) and one broken table: without --keep-going nothing
    lands (exit 1); with it, each file is its own transaction, the bad one is listed with its reason, the rest
    are stored, and the exit status is 2."""
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(inspect_eval_log, folder / inspect_eval_log.name)
    shutil.copy(inspect_json_log, folder / inspect_json_log.name)
    shutil.copy(FIXTURES / "70m_step1000.json", folder)
    shutil.copytree(HELM, folder / "helm")
    shutil.copy(EEE / "hal_gaia_o3.json", folder)
    shutil.copy(HAL / "taubench_toolcalling_gpt_4o_mini_baseline_r0_UPLOAD.json", folder)
    broken = folder / "broken.csv"
    broken.write_text("benchmark,item_id,model,score\nb,1,m,1\nb,2,m,1.5\n")
    before = fingerprint(store_path)
    refused = run_cli("ingest", "--store", str(store_path), str(folder), "--benchmark", "taubench_airline")
    assert refused.returncode == 1 and f"{broken}, line 3" in refused.stderr
    assert fingerprint(store_path) == before
    kept = run_cli(
        "ingest",
        "--store",
        str(store_path),
        str(folder),
        "--keep-going",
        "--json",
        "--benchmark",
        "taubench_airline",
    )
    assert kept.returncode == 2, kept.stderr
    report = json.loads(kept.stdout)
    assert report["skipped_files"] == [
        {"path": str(broken), "reason": f"{broken}, line 3: score 1.5 is outside [0, 1]."}
    ]
    assert {Path(f["path"]).name for f in report["files"]} == {
        inspect_eval_log.name,
        inspect_json_log.name,
        "70m_step1000.json",
        "per_instance_stats.json",
        "hal_gaia_o3.json",
        "taubench_toolcalling_gpt_4o_mini_baseline_r0_UPLOAD.json",
    }
    assert {f["format"] for f in report["files"]} == {"inspect", "lm-eval", "helm", "eee", "hal"}
    # 5 samples x 2 epochs x 2 Inspect logs, 2 instances x 2 HELM runs, 2 HAL tasks; the lm-eval tasks (the
    # EEE record is HAL's, which the sample store holds already)
    assert report["rollouts_added"] == 20 + 4 + 2 and report["aggregate_runs_added"] == 65
    assert f"left out {broken}, line 3" in kept.stderr


def test_every_eval_ever_records_are_aggregate_runs_with_their_cost(store_path: Path, tmp_path: Path) -> None:
    """The two HAL records are already in the sample store (built by the same reader), so they add nothing
    under their own source; under another source they land as aggregate-only runs with their cost."""
    held = ingest(store_path, str(EEE))
    assert held["aggregate_runs_added"] == 0 and held["files"][0]["duplicates"] == 1
    assert {f["format"] for f in held["files"]} == {"eee"}
    report = ingest(store_path, str(EEE), "--source", "eee-fixtures")
    assert report["aggregate_runs_added"] == 2
    conn = duckdb.connect(str(store_path), read_only=True)
    rows = conn.execute(
        "SELECT benchmark, model, scaffold, accuracy, total_cost_usd FROM runs WHERE source = 'eee-fixtures' "
        "ORDER BY benchmark"
    ).fetchall()
    sources = conn.execute(
        "SELECT DISTINCT source FROM runs WHERE harness = 'eee' AND model IN (?, ?) AND source <> 'eee-fixtures'",
        ["openai/o3 (April 2025)", "deepseek/deepseek-r1 (May 2025)"],
    ).fetchall()
    conn.close()
    records = {p.name: json.loads(p.read_text()) for p in EEE.glob("*.json")}
    o3 = records["hal_gaia_o3.json"]
    r1 = records["hal_corebench_deepseek_r1.json"]
    assert rows == [
        (
            "corebench_hard",
            "deepseek/deepseek-r1 (May 2025)",
            "HAL Generalist Agent",
            r1["evaluation_results"][0]["score_details"]["score"],
            float(r1["model_info"]["additional_details"]["total_cost_usd"]),
        ),
        ("gaia", "openai/o3 (April 2025)", "HAL Generalist Agent [medium]", 0.2848, 2828.54),
    ]
    assert {r1["source_metadata"]["source_name"], o3["source_metadata"]["source_name"]} <= {
        s for (s,) in sources
    }
    assert o3["evaluation_results"][0]["score_details"]["score"] == 0.2848
    info = json.loads(run_cli("info", "--store", str(store_path), "--json").stdout)
    assert info["aggregate_cost_usd"] >= 2828.54 + float(
        r1["model_info"]["additional_details"]["total_cost_usd"]
    )
    copy = tmp_path / "again.json"
    copy.write_text(json.dumps(o3, indent=4))  # the same record, other bytes: nothing new
    assert ingest(store_path, str(copy), "--source", "eee-fixtures")["files"][0]["skipped"]


@pytest.mark.parametrize("log_format", ["eval", "json"])
def test_an_inspect_log_without_samples_is_an_aggregate_run_from_its_header(
    store_path: Path, tmp_path: Path, tiktoken_cache: Path, log_format: str
) -> None:
    """inspect eval --no-log-samples writes the header only: its headline accuracy and dataset size land as
    an aggregate-only run (the real tool writes the log, offline, with its mockllm model)."""
    from tests.conftest import write_inspect_log

    log = write_inspect_log(tmp_path / "logs", tiktoken_cache, log_format, "--no-log-samples")
    report = ingest(store_path, str(log))
    (entry,) = report["files"]
    assert entry["format"] == "inspect" and entry["aggregate_runs"] == 1 and entry["rollouts"] == 0
    conn = duckdb.connect(str(store_path), read_only=True)
    row = conn.execute(
        "SELECT benchmark, model, n_items, accuracy, total_cost_usd FROM runs WHERE run_id = ?",
        [entry["run_id"]],
    ).fetchone()
    conn.close()
    # mockllm answers the same text to all five items; includes() scores the odd ones correct: 2 of 5
    assert row == ("arith", "mockllm/model", 5, 0.4, None)
    assert ingest(store_path, str(log))["files"][0]["skipped"]
