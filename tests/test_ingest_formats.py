"""lm-eval, HELM, Every Eval Ever and HAL files. None of these tools can write a log here (they need model
weights or data sets from a hub), so the files follow each tool's documented schema; the field names used
are cited beside each builder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import fingerprint, run_cli
from tests.test_ingest_table import ingest, rows


def lm_eval_run(folder: Path) -> Path:
    """lm-evaluation-harness --output_path X --log_samples writes X/<model_name_sanitized>/ with
    results_<date>.json (``model_name``, ``config.model_args``) and samples_<task>_<date>.jsonl, one object
    per doc: ``doc_id``, ``doc``, ``target``, ``arguments``, ``resps``, ``filtered_resps``, ``filter``,
    ``metrics`` (names of the metric keys that follow), ``doc_hash``, ``prompt_hash``, ``target_hash``."""
    run = folder / "EleutherAI__pythia-160m"
    run.mkdir(parents=True)
    date = "2026-11-26T10-20-30.123456"
    (run / f"results_{date}.json").write_text(
        json.dumps(
            {
                "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5}},
                "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-160m,dtype=float32"},
                "model_name": "EleutherAI/pythia-160m",
            }
        )
    )
    samples = run / f"samples_arc_easy_{date}.jsonl"
    lines = []
    for doc_id in range(4):
        lines.append(
            json.dumps(
                {
                    "doc_id": doc_id,
                    "doc": {"question": "..."},
                    "target": 0,
                    "arguments": {},
                    "resps": [],
                    "filtered_resps": [],
                    "filter": "none",
                    "metrics": ["acc", "acc_norm"],
                    "doc_hash": "h",
                    "prompt_hash": "p",
                    "target_hash": "t",
                    "acc": float(doc_id % 2),
                    "acc_norm": 1.0,
                }
            )
        )
    samples.write_text("\n".join(lines) + "\n")
    return samples


def test_lm_eval_samples(store_path: Path, tmp_path: Path) -> None:
    samples = lm_eval_run(tmp_path)
    report = ingest(store_path, str(samples))
    assert report["files"][0]["format"] == "lm-eval"
    assert rows(
        store_path,
        """
        SELECT model, item_id, score FROM rollouts WHERE benchmark = 'arc_easy' ORDER BY item_id""",
    ) == [
        ("EleutherAI/pythia-160m", "0", 0.0),
        ("EleutherAI/pythia-160m", "1", 1.0),
        ("EleutherAI/pythia-160m", "2", 0.0),
        ("EleutherAI/pythia-160m", "3", 1.0),
    ]
    info = json.loads(run_cli("info", "--json", "--store", str(store_path)).stdout)
    assert any(b["benchmark"] == "arc_easy" and b["rollouts"] == 4 for b in info["by_benchmark"])


def test_corrupted_lm_eval_samples_are_refused(store_path: Path, tmp_path: Path) -> None:
    samples = lm_eval_run(tmp_path)
    lines = samples.read_text().splitlines()
    lines[2] = lines[2][:40]
    samples.write_text("\n".join(lines) + "\n")
    before = fingerprint(store_path)
    result = run_cli("ingest", "--store", str(store_path), str(samples))
    assert result.returncode == 1
    assert f"{samples}, line 3: not valid JSON" in result.stderr
    assert fingerprint(store_path) == before


def test_lm_eval_metric_that_is_not_a_score(store_path: Path, tmp_path: Path) -> None:
    samples = lm_eval_run(tmp_path)
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    lines[1]["acc"] = 12.5
    samples.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = run_cli("ingest", "--store", str(store_path), str(samples))
    assert result.returncode == 1 and "line 2, metric 'acc': score 12.5 is outside [0, 1]" in result.stderr


def helm_run(folder: Path) -> Path:
    """HELM's benchmark_output/runs/<suite>/<run>/: run_spec.json (``name``, ``adapter_spec.model``) and
    per_instance_stats.json, a list of ``{instance_id, train_trial_index, perturbation?, stats: [{name:
    {name, split}, count, sum, mean, ...}]}``."""
    run = folder / "mmlu:subject=anatomy,method=multiple_choice_joint,model=openai_gpt2"
    run.mkdir(parents=True)
    (run / "run_spec.json").write_text(
        json.dumps(
            {
                "name": "mmlu:subject=anatomy,method=multiple_choice_joint,model=openai_gpt2",
                "scenario_spec": {"class_name": "helm.benchmark.scenarios.mmlu_scenario.MMLUScenario"},
                "adapter_spec": {"method": "multiple_choice_joint", "model": "openai/gpt2", "max_tokens": 1},
                "metric_specs": [],
                "groups": ["mmlu"],
            }
        )
    )

    def stat(name: str, mean: float) -> dict:
        return {"name": {"name": name, "split": "test"}, "count": 1, "sum": mean, "mean": mean}

    instances = [
        {
            "instance_id": f"id{i}",
            "train_trial_index": 0,
            "stats": [
                stat("exact_match", float(i % 2)),
                stat("num_prompt_tokens", 100 + i),
                stat("num_output_tokens", 1),
                stat("inference_runtime", 0.5),
            ],
        }
        for i in range(3)
    ]
    instances.append(
        {
            "instance_id": "id0",
            "train_trial_index": 0,
            "perturbation": {"name": "typos"},
            "stats": [stat("exact_match", 0.0)],
        }
    )
    (run / "per_instance_stats.json").write_text(json.dumps(instances))
    return run / "per_instance_stats.json"


def test_helm_per_instance_stats(store_path: Path, tmp_path: Path) -> None:
    stats = helm_run(tmp_path)
    report = ingest(store_path, str(stats))
    assert report["rollouts_added"] == 3  # the perturbed copy is not the benchmark's own item
    got = rows(
        store_path,
        """
        SELECT r.item_id, model, score, input_tokens, output_tokens, stratum FROM rollouts r
        JOIN items USING (benchmark, item_id) WHERE benchmark = 'mmlu' ORDER BY 1""",
    )
    variant = "subject=anatomy,method=multiple_choice_joint"
    assert got[1] == (f"{variant}/id1", "openai/gpt2", 1.0, 101, 1, variant)


def test_helm_without_run_spec_is_refused(store_path: Path, tmp_path: Path) -> None:
    stats = helm_run(tmp_path)
    (stats.parent / "run_spec.json").unlink()
    result = run_cli("ingest", "--store", str(store_path), str(stats))
    assert result.returncode == 1 and "run_spec.json must sit beside" in result.stderr


def eee_samples(folder: Path) -> Path:
    """Every Eval Ever instance_level_eval.schema.json (0.2): required ``schema_version``, ``evaluation_id``,
    ``model_id``, ``evaluation_name``, ``sample_id``, ``interaction_type``, ``input`` {raw, reference},
    ``answer_attribution``, ``evaluation`` {score, is_correct}; optional ``token_usage``, ``performance``."""
    path = folder / "gsm8k_samples.jsonl"
    records = []
    for i in range(3):
        records.append(
            {
                "schema_version": "instance_level_eval_0.2.1",
                "evaluation_id": "run-1",
                "model_id": "meta-llama/Llama-3.2-1B-Instruct",
                "evaluation_name": "GSM8K",
                "sample_id": f"gsm8k_{i:04d}",
                "interaction_type": "single_turn",
                "input": {"raw": "...", "reference": ["4"]},
                "output": {"raw": ["4"]},
                "answer_attribution": [],
                "evaluation": {"score": float(i != 1), "is_correct": i != 1},
                "token_usage": {"input_tokens": 50, "output_tokens": 7, "total_tokens": 57},
                "performance": {"latency_ms": 250.0},
            }
        )
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_every_eval_ever_samples(store_path: Path, tmp_path: Path) -> None:
    path = eee_samples(tmp_path)
    report = ingest(store_path, str(path))
    assert report["files"][0]["format"] == "eee"
    assert rows(
        store_path,
        """
        SELECT sum(score), sum(input_tokens), max(latency_s) FROM rollouts WHERE benchmark = 'GSM8K'""",
    ) == [(2.0, 150, 0.25)]


def test_every_eval_ever_output_tokens_include_the_reasoning(store_path: Path, tmp_path: Path) -> None:
    """The schema's token_usage.output_tokens is the total output, reasoning included (as Inspect's): the store
    keeps output and reasoning apart, so that each is priced once."""
    path = eee_samples(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["token_usage"] |= {"output_tokens": 7, "reasoning_tokens": 3}
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    ingest(store_path, str(path))
    assert rows(
        store_path,
        "SELECT item_id, output_tokens, reasoning_tokens FROM rollouts WHERE benchmark = 'GSM8K' ORDER BY 1",
    ) == [("gsm8k_0000", 4, 3), ("gsm8k_0001", 7, None), ("gsm8k_0002", 7, None)]


def test_every_eval_ever_missing_field(store_path: Path, tmp_path: Path) -> None:
    path = eee_samples(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    del records[2]["sample_id"]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = run_cli("ingest", "--store", str(store_path), str(path))
    assert result.returncode == 1 and "line 3: no 'sample_id'" in result.stderr


def hal_upload(folder: Path) -> Path:
    """hal-harness hal/benchmarks/base_benchmark.py process_results writes <run_id>_UPLOAD.json with
    ``config`` {agent_name, benchmark_name, date, run_id, agent_args}, ``results`` {accuracy,
    successful_tasks, failed_tasks, total_cost, latencies}, ``total_usage``, ``total_cost``."""
    path = folder / "usaco_myagent_1700000000_UPLOAD.json"
    path.write_text(
        json.dumps(
            {
                "config": {
                    "agent_name": "usaco_episodic_semantic",
                    "benchmark_name": "usaco",
                    "date": "2026-11-01",
                    "run_id": "usaco_myagent_1700000000",
                    "agent_args": {"model_name": "gpt-4o-2024-05-13"},
                },
                "results": {
                    "accuracy": 0.5,
                    "successful_tasks": ["1333_platinum_good_bitstrings"],
                    "failed_tasks": ["1334_platinum_fortune"],
                    "total_cost": 1.75,
                    "latencies": {"1333_platinum_good_bitstrings": {"total_time": 12.0}},
                },
                "raw_eval_results": {},
                "raw_logging_results": [],
                "total_usage": {"gpt-4o-2024-05-13": {}},
                "total_cost": 1.75,
            }
        )
    )
    return path


def test_hal_upload(store_path: Path, tmp_path: Path) -> None:
    path = hal_upload(tmp_path)
    report = ingest(store_path, str(path))
    run_id = report["files"][0]["run_id"]
    assert rows(store_path, "SELECT harness, total_cost_usd FROM runs WHERE run_id = ?", [run_id]) == [
        ("hal", 1.75)
    ]
    assert rows(
        store_path,
        """
        SELECT item_id, scaffold, score, latency_s, cost_source FROM rollouts WHERE run_id = ? ORDER BY 1""",
        [run_id],
    ) == [
        ("1333_platinum_good_bitstrings", "usaco_episodic_semantic", 1.0, 12.0, "unknown"),
        ("1334_platinum_fortune", "usaco_episodic_semantic", 0.0, None, "unknown"),
    ]


def _traced_call(prompt: int, completion: int) -> dict:
    return {
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
        "started_at": "t",
        "ended_at": "t",
    }


def test_hal_upload_with_compact_traces(store_path: Path, tmp_path: Path) -> None:
    """Newer hal-harness uploads keep raw_logging_results as an object by task (hal/utils/weave_utils.py,
    get_weave_calls: {messages, call_metadata: [{usage, started_at, ended_at}], model, call_count}; the shape
    its .github/scripts/corebench_hard_upload.schema.json checks): each task's tokens are its calls' usage
    summed, and call_count its LLM calls."""
    path = tmp_path / "corebench_hard_coreagent_1750000000_UPLOAD.json"
    path.write_text(
        json.dumps(
            {
                "config": {
                    "agent_name": "CORE-Agent", "benchmark_name": "corebench_hard", "date": "2026-06-01",
                    "run_id": "corebench_hard_coreagent_1750000000", "prompt_sensitivity": False,
                    "agent_args": {"model_name": "openai/gpt-4.1-2025-04-14", "benchmark_name": "corebench_hard"},
                    "run_command": "hal-eval --benchmark corebench_hard",
                },
                "results": {
                    "accuracy": 0.5, "written_accuracy": 0.5, "vision_accuracy": 0.0,
                    "successful_tasks": ["capsule-1"], "failed_tasks": ["capsule-2"], "total_cost": 0.42,
                    "latencies": {"capsule-1": {"first_call_timestamp": "a", "last_call_timestamp": "b",
                                                "total_time": 30.5}},
                },
                "raw_eval_results": {
                    "capsule-1": {"correct_written_answers": 1, "correct_vision_answers": 0,
                                  "total_written_questions": 1, "total_vision_questions": 0},
                    "capsule-2": {"correct_written_answers": 0, "correct_vision_answers": 0,
                                  "total_written_questions": 1, "total_vision_questions": 0},
                },
                "raw_logging_results": {
                    "capsule-1": {"messages": [], "model": "gpt-4.1-2025-04-14", "call_count": 2,
                                  "call_metadata": [_traced_call(1000, 100), _traced_call(1500, 50)]},
                    "capsule-2": {"messages": [], "model": "gpt-4.1-2025-04-14", "call_count": 1,
                                  "call_metadata": [_traced_call(800, 20)]},
                },
                "total_usage": {"gpt-4.1-2025-04-14": {"prompt_tokens": 3300, "completion_tokens": 170}},
                "total_cost": 0.42,
                "git_info": {},
            }
        )
    )  # fmt: skip
    report = ingest(store_path, str(path))
    run_id = report["files"][0]["run_id"]
    assert rows(
        store_path,
        "SELECT item_id, score, input_tokens, output_tokens, api_calls, latency_s FROM rollouts WHERE run_id = ? "
        "ORDER BY 1",
        [run_id],
    ) == [("capsule-1", 1.0, 2500, 150, 2, 30.5), ("capsule-2", 0.0, 800, 20, 1, None)]


@pytest.mark.parametrize("name", ["results.xlsx", "notes.json"])
def test_unknown_formats_ask_for_format(store_path: Path, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("{}" if name.endswith(".json") else "x")
    result = run_cli("ingest", "--store", str(store_path), str(path))
    assert result.returncode == 1 and "--format" in result.stderr


def test_lm_eval_older_samples_and_metrics_that_are_not_scores(store_path: Path, tmp_path: Path) -> None:
    """Older lm-eval rows carry their metric keys with no ``metrics`` list; a listed metric written as a
    prediction/reference pair (f1) is passed over for the next numeric one; --metric chooses."""
    samples = lm_eval_run(tmp_path)
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    for line in lines:
        del line["metrics"]  # the older layout
    samples.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    ingest(store_path, str(samples))
    assert [
        r[0]
        for r in rows(store_path, "SELECT score FROM rollouts WHERE benchmark = 'arc_easy' ORDER BY item_id")
    ] == [
        0.0,
        1.0,
        0.0,
        1.0,
    ]
    other = tmp_path / "f1"
    pairs = lm_eval_run(other)
    lines = [json.loads(line) for line in pairs.read_text().splitlines()]
    for line in lines:
        line["metrics"] = ["f1", "acc"]
        line["f1"] = ["the answer", "the answer"]  # as lm-eval writes f1 per sample: a pair, scored later
    renamed = pairs.with_name(pairs.name.replace("arc_easy", "squad"))
    renamed.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    pairs.unlink()
    ingest(store_path, str(renamed), "--source", "f1-run")
    assert [
        r[0]
        for r in rows(store_path, "SELECT score FROM rollouts WHERE benchmark = 'squad' ORDER BY item_id")
    ] == [
        0.0,
        1.0,
        0.0,
        1.0,
    ]
    ingest(store_path, str(renamed), "--source", "norm-run", "--metric", "acc_norm")
    scores = rows(
        store_path,
        "SELECT score FROM rollouts r JOIN runs USING (run_id) WHERE runs.source = 'norm-run' ORDER BY item_id",
    )
    assert [r[0] for r in scores] == [1.0, 1.0, 1.0, 1.0]


def test_a_folder_with_results_and_samples_counts_each_task_once(store_path: Path, tmp_path: Path) -> None:
    samples = lm_eval_run(tmp_path)
    report = ingest(store_path, str(samples.parent))
    formats = {Path(f["path"]).name.split("_")[0]: f for f in report["files"]}
    assert formats["samples"]["rollouts"] == 4 and formats["results"]["aggregate_runs"] == 0
    # the sample store's Pythia series hold arc_easy results of their own: none of this file's source
    assert rows(
        store_path,
        "SELECT count(*) FROM runs WHERE aggregate_only AND benchmark = 'arc_easy' "
        "AND source NOT LIKE 'EleutherAI/pythia%'",
    ) == [(0,)]
