"""HELM run folders and HAL upload files as the tools wrote them (tests/fixtures/helm and tests/fixtures/hal,
see their PROVENANCE.md): every count, score, token, latency and cost is checked against the files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import fingerprint, run_cli

HELM = Path(__file__).parent / "fixtures" / "helm" / "v3"
HAL = Path(__file__).parent / "fixtures" / "hal"
HARM_BENCH = "harm_bench:model=meta_llama-3-70b"
BBQ = "bbq:subject=all,method=multiple_choice_joint,model=meta_llama-3-70b"


def ingest(store: Path, *args: str) -> dict:
    result = run_cli("ingest", "--store", str(store), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def query(store: Path, sql: str, params: list | None = None) -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def helm_stats(run: str, split: str = "test") -> dict[str, dict[str, float]]:
    """Each instance's stats in ``split`` as the file holds them, its entries merged."""
    merged: dict[str, dict[str, float]] = {}
    for entry in json.loads((HELM / run / "per_instance_stats.json").read_text()):
        for stat in entry["stats"]:
            if stat["name"].get("split") == split and "mean" in stat:
                merged.setdefault(entry["instance_id"], {}).setdefault(stat["name"]["name"], stat["mean"])
    return merged


def leaderboard_value(run: str) -> float:
    """The suite's own leaderboard cell for this run (helm-summarize's accuracy table)."""
    table = json.loads((HELM / "groups" / "json" / "safety_scenarios_accuracy.json").read_text())
    return next(
        cell["value"] for row in table["rows"] for cell in row[1:] if run in cell.get("run_spec_names", [])
    )


def test_helm_runs_score_by_their_groups_main_metric_and_are_named_as_the_leaderboard_names_them(
    store_path: Path,
) -> None:
    """HELM Safety's harm_bench keeps its score in harm_bench_score (the schema's main metric; the run was
    refused before) and writes each instance's stats in two entries; BBQ's main metric is run-level, so its
    instances score by exact_match. Each run's mean is the suite leaderboard's own figure."""
    schema = {g["name"]: g for g in json.loads((HELM / "schema.json").read_text())["run_groups"]}
    report = ingest(store_path, str(HELM))
    assert report["rollouts_added"] == 4 and len(report["files"]) == 2
    for run, group, metric in ((HARM_BENCH, "harm_bench", "harm_bench_score"), (BBQ, "bbq", "exact_match")):
        stats = helm_stats(run)
        benchmark = schema[group]["display_name"].lower()  # HarmBench -> harmbench, as Every Eval Ever has it
        got = query(
            store_path,
            """SELECT item_id, model, "repeat", score, input_tokens, output_tokens, latency_s FROM rollouts
               WHERE benchmark = ? ORDER BY item_id""",
            [benchmark],
        )
        variant = run.split(":", 1)[1].rsplit("model=", 1)[0].rstrip(",")
        assert got == sorted(
            (
                f"{variant}/{instance}" if variant else instance,
                "meta/llama-3-70b",
                0,
                s[metric],
                round(s["num_prompt_tokens"]),
                round(s["num_output_tokens"]),
                s["inference_runtime"],
            )
            for instance, s in stats.items()
        )
        assert sum(r[3] for r in got) / len(got) == pytest.approx(leaderboard_value(run))


def test_a_helm_run_without_its_suite_schema_asks_for_the_metric_and_reads_one_split(
    store_path: Path, tmp_path: Path
) -> None:
    """A run folder as helm-run writes it, before helm-summarize: no schema names harm_bench's main metric,
    so the sentence lists the stats that could score it; --metric chooses; --split reads another split."""
    run = tmp_path / HARM_BENCH
    shutil.copytree(HELM / HARM_BENCH, run)
    stats = run / "per_instance_stats.json"
    before = fingerprint(store_path)
    refused = run_cli("ingest", "--store", str(store_path), str(stats))
    assert refused.returncode == 1 and fingerprint(store_path) == before
    assert (
        "name one with --metric (stats in [0, 1]: harm_bench_claude_score, harm_bench_gpt_score, "
        "harm_bench_score" in refused.stderr
    ), refused.stderr
    no_valid = run_cli("ingest", "--store", str(store_path), str(stats), "--split", "valid")
    assert no_valid.returncode == 1 and "has no instance in the 'valid' split" in no_valid.stderr
    report = ingest(store_path, str(stats), "--metric", "harm_bench_gpt_score")
    assert report["files"][0]["benchmarks"] == ["harm-bench"]  # the run group's own name, with no schema
    scores = query(
        store_path, "SELECT item_id, score FROM rollouts WHERE benchmark = 'harm-bench' ORDER BY 1"
    )
    assert scores == sorted((i, s["harm_bench_gpt_score"]) for i, s in helm_stats(HARM_BENCH).items())


def test_hal_uploads_from_the_harness_tests_with_benchmark_and_model_filled_in(
    store_path: Path, tmp_path: Path
) -> None:
    """hal-harness's own upload fixtures have an empty config: --benchmark (and, where no usage names the
    model, --model) fill it. Scores are the raw results' rewards, costs and latencies the per-task ones,
    tokens each task's logged usage."""
    baseline = HAL / "taubench_toolcalling_gpt_4o_mini_baseline_r0_UPLOAD.json"
    fault = HAL / "taubench_toolcalling_gpt_4o_mini_fault_r0_UPLOAD.json"
    before = fingerprint(store_path)
    refused = run_cli("ingest", "--store", str(store_path), str(baseline))
    assert refused.returncode == 1 and "give one with --benchmark NAME" in refused.stderr
    no_model = run_cli("ingest", "--store", str(store_path), str(fault), "--benchmark", "taubench_airline")
    assert no_model.returncode == 1 and "give one with --model NAME" in no_model.stderr
    assert fingerprint(store_path) == before

    upload = json.loads(baseline.read_text())
    report = ingest(store_path, str(baseline), "--benchmark", "taubench_airline")
    (model,) = upload["raw_logging_results"][0]["summary"]["usage"]  # the one model its usage names
    usage = {
        str(call["weave_task_id"]): call["summary"]["usage"][model] for call in upload["raw_logging_results"]
    }
    got = query(
        store_path,
        """SELECT r.source, o.item_id, o.model, o.score, o.input_tokens, o.output_tokens, o.cost_usd,
                  o.cost_source, o.latency_s
           FROM rollouts o JOIN runs r USING (run_id) WHERE r.run_id = ? ORDER BY o.item_id""",
        [report["files"][0]["run_id"]],
    )
    assert got == [
        (
            f"hal:{upload['metadata']['run_id']}",
            task,
            model,
            raw["reward"],
            usage.get(task, {}).get("prompt_tokens"),
            usage.get(task, {}).get("completion_tokens"),
            upload["results"]["costs"][task],
            "recorded",
            upload["results"]["latencies"][task],
        )
        for task, raw in sorted(upload["raw_eval_results"].items())
    ]
    added = ingest(store_path, str(fault), "--benchmark", "taubench_airline", "--model", model)
    assert added["rollouts_added"] == len(json.loads(fault.read_text())["raw_eval_results"])


CLASSIC = Path(__file__).parent / "fixtures" / "helm" / "classic"
HELLASWAG = "commonsense-dataset=hellaswag,method=multiple_choice_joint,model=eleutherai_pythia-1b-v0"


def test_a_helm_run_that_holds_one_split_is_read_in_it_and_named_as_its_run_group(
    store_path: Path, tmp_path: Path
) -> None:
    """HELM scores HellaSwag on its valid split, so the run's stats are all there: with no split named and no
    schema, that one split is read (the test split, the default, has none), and the benchmark takes the run
    group's name, hellaswag, not the scenario's, commonsense. A split the run does not hold is refused, naming
    the ones it does."""
    stats: dict[str, dict[str, float]] = {}
    for entry in json.loads((CLASSIC / HELLASWAG / "per_instance_stats.json").read_text()):
        assert {s["name"]["split"] for s in entry["stats"]} == {"valid"}
        for stat in (s for s in entry["stats"] if "mean" in s):  # a stat of count 0 has no mean
            stats.setdefault(entry["instance_id"], {}).setdefault(stat["name"]["name"], stat["mean"])
    report = ingest(store_path, str(CLASSIC))
    assert report["rollouts_added"] == len(stats) == 10
    assert report["files"][0]["benchmarks"] == ["hellaswag"]
    got = query(
        store_path,
        "SELECT item_id, model, score, input_tokens, output_tokens, latency_s FROM rollouts "
        "WHERE benchmark = 'hellaswag' AND model = 'eleutherai/pythia-1b-v0' ORDER BY item_id",
    )
    assert got == sorted(
        (
            f"dataset=hellaswag,method=multiple_choice_joint/{instance}",
            "eleutherai/pythia-1b-v0",
            s["exact_match"],
            round(s["num_prompt_tokens"]),
            round(s["num_output_tokens"]),
            s["inference_runtime"],
        )
        for instance, s in stats.items()
    )
    copy = tmp_path / HELLASWAG
    shutil.copytree(CLASSIC / HELLASWAG, copy)
    (copy / "per_instance_stats.json").write_text(
        (CLASSIC / HELLASWAG / "per_instance_stats.json").read_text() + "\n"
    )  # other bytes, so the file is read again rather than known by its hash
    before = fingerprint(store_path)
    refused = run_cli(
        "ingest", "--store", str(store_path), str(copy / "per_instance_stats.json"), "--split", "test"
    )
    assert refused.returncode == 1 and fingerprint(store_path) == before
    assert (
        "has no instance in the 'test' split; its splits are valid (choose one with --split)"
        in refused.stderr
    )
