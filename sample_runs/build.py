"""Derive the bundled sample store from the public figures in shared/data.

Run once by a maintainer (``python sample_runs/build.py --data ../shared/data``); the Parquet files it
writes are committed, so an installed evalbudget never needs the source folder. Every file is in the
project's long table format (see engine/ingest/table.py), plus files of aggregate-only runs (Aider, HAL, and
the Pythia checkpoint series, whose rows also name each checkpoint's series and step).
No prompt, answer or trajectory text is read or written: only ids, names, scores, counts and dollars.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent

# PROVENANCE.md of the SWE-bench folder: this model's per-instance flags disagree with its leaderboard score.
SWE_VERIFIED_EXCLUDED = "Claude 3.7 Sonnet (20250219)"


def _copy(conn: duckdb.DuckDBPyConnection, query: str, out: Path) -> int:
    conn.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    return int(conn.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0])  # type: ignore[index]


def build(data: Path, out_dir: Path) -> dict[str, object]:
    conn = duckdb.connect()
    manifest: dict[str, object] = {"datasets": {}}
    datasets: dict[str, object] = manifest["datasets"]  # type: ignore[assignment]

    swe_v = data / "swebench" / "swebench_verified_bash_only_per_instance.csv"
    rows = _copy(
        conn,
        f"""
        SELECT 'swe-bench.github.io bash-only' AS source, benchmark, item_id, model, scaffold,
               "repeat", score::DOUBLE AS score, 'ok' AS status, cost_usd, api_calls,
               run_date::TIMESTAMP AS started_at, repo AS stratum
        FROM read_csv('{swe_v}', header=true)
        WHERE model <> '{SWE_VERIFIED_EXCLUDED}'
        ORDER BY model, item_id
        """,
        out_dir / "swebench_verified_bash_only.parquet",
    )
    aggregate = data / "swebench" / "swebench_leaderboard_systems_aggregate.csv"
    leaderboard_cost = conn.execute(
        f"""
        SELECT sum(total_cost_usd) FROM read_csv('{aggregate}', header=true)
        WHERE leaderboard = 'bash-only' AND has_per_instance AND system_name <> '{SWE_VERIFIED_EXCLUDED}'
        """
    ).fetchone()[0]  # type: ignore[index]
    per_item_cost = conn.execute(
        f"SELECT sum(cost_usd) FROM '{out_dir / 'swebench_verified_bash_only.parquet'}'"
    ).fetchone()[0]  # type: ignore[index]
    if abs(leaderboard_cost - per_item_cost) > 1e-6:
        raise SystemExit(
            f"SWE-bench Verified: per-instance cost {per_item_cost} != leaderboard {leaderboard_cost}"
        )
    datasets["swe-bench-verified"] = {"rollouts": rows, "leaderboard_cost_usd": leaderboard_cost}

    swe_pro = data / "swebench" / "swebench_pro_sweagent_per_instance.csv"
    rows = _copy(
        conn,
        f"""
        SELECT 'nilenso/swe-bench-pro-cost-token-time-analysis' AS source, benchmark, item_id, model,
               scaffold, "repeat", score::DOUBLE AS score, 'ok' AS status, input_tokens, output_tokens,
               cost_usd, api_calls, repo AS stratum
        FROM read_csv('{swe_pro}', header=true)
        ORDER BY model, item_id
        """,
        out_dir / "swebench_pro_sweagent.parquet",
    )
    datasets["swe-bench-pro-public"] = {
        "rollouts": rows,
        "recorded_cost_usd": conn.execute(f"SELECT sum(cost_usd) FROM read_csv('{swe_pro}')").fetchone()[0],  # type: ignore[index]
    }

    # The source lists vicuna-7b/13b-v1.5's annotations twice; the second copy is dropped.
    judgments = data / "alpaca_eval" / "alpaca_eval_per_instruction_judgments.parquet"
    rows = _copy(
        conn,
        f"""
        SELECT 'tatsu-lab/alpaca_eval' AS source, 'alpaca-eval-2' AS benchmark, item_id::VARCHAR AS item_id,
               model, scaffold, 0 AS "repeat", score,
               CASE WHEN score IS NULL THEN 'error' ELSE 'ok' END AS status,
               input_tokens, output_tokens, judge_cost_usd AS cost_usd, judge_latency_s AS latency_s,
               subset AS stratum
        FROM '{judgments}'
        WHERE scaffold = 'judge=weighted_alpaca_eval_gpt4_turbo'
        QUALIFY row_number() OVER (PARTITION BY model, item_id ORDER BY generator) = 1
        ORDER BY model, item_id::INTEGER
        """,
        out_dir / "alpaca_eval_2.parquet",
    )
    datasets["alpaca-eval-2"] = {"rollouts": rows}

    metr = data / "metr" / "metr_runs.csv"
    rows = _copy(
        conn,
        f"""
        SELECT 'METR/eval-analysis-public' AS source, benchmark, item_id, model, '' AS scaffold, "repeat",
               score_binarized::DOUBLE AS score,
               CASE WHEN fatal_error_from = 'usageLimits' THEN 'limit'
                    WHEN fatal_error_from IS NOT NULL THEN 'error' ELSE 'ok' END AS status,
               latency_s, make_timestamp(started_at_ms * 1000) AS started_at, task_family AS stratum
        FROM read_csv('{metr}', header=true)
        WHERE model <> 'human'
        ORDER BY model, item_id, "repeat"
        """,
        out_dir / "metr_hcast_rebench.parquet",
    )
    datasets["metr-hcast-rebench"] = {"rollouts": rows}

    aider = data / "aider" / "aider_leaderboards_runs.csv"
    rows = _copy(
        conn,
        f"""
        SELECT 'aider:' || replace(leaderboard_file, '.yml', '') || ':' || dirname AS run_id, 'Aider-AI/aider website/_data' AS source, 'aider' AS harness,
               'aider-' || replace(replace(leaderboard_file, '.yml', ''), '_leaderboard', '') AS benchmark,
               model,
               CASE WHEN editor_model IS NOT NULL
                    THEN edit_format || ' (editor ' || editor_model || ' ' || coalesce(editor_edit_format, '') || ')'
                    ELSE edit_format END AS scaffold,
               test_cases::INTEGER AS n_items,
               coalesce(pass_rate_2, pass_rate_1) / 100.0 AS accuracy,
               -- aider writes 0 where it did not track cost: that is unknown, not free
               nullif(total_cost, 0) AS total_cost_usd,
               seconds_per_case AS seconds_per_item,
               "date"::TIMESTAMP AS started_at
        FROM read_csv('{aider}', header=true)
        ORDER BY benchmark, model, scaffold
        """,
        out_dir / "aider_runs.parquet",
    )
    datasets["aider"] = {"aggregate_runs": rows}

    hal = _hal_runs(data / "hal")
    conn.execute(
        "CREATE TEMP TABLE hal AS SELECT * FROM (VALUES "
        + ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in hal)
        + ") t(run_id, source, benchmark, model, scaffold, accuracy, total_cost_usd)",
        [value for run in hal for value in run],
    )
    rows = _copy(
        conn,
        """
        SELECT run_id, source, 'eee' AS harness, benchmark, model, scaffold,
               -- HAL's records give no item counts: the runs are compared by what a whole run cost
               CAST(NULL AS INTEGER) AS n_items, accuracy, total_cost_usd,
               CAST(NULL AS DOUBLE) AS seconds_per_item, CAST(NULL AS TIMESTAMP) AS started_at
        FROM hal ORDER BY benchmark, model, scaffold
        """,
        out_dir / "hal_runs.parquet",
    )
    datasets["hal"] = {
        "aggregate_runs": rows,
        "benchmarks": sorted({run[2] for run in hal}),
        "recorded_cost_usd": round(sum(run[6] or 0.0 for run in hal), 2),
    }
    pythia = _pythia_runs(data / "pythia")
    conn.execute(
        "CREATE TEMP TABLE pythia AS SELECT * FROM (VALUES "
        + ", ".join("(?, ?, ?, ?, ?, ?, ?, ?)" for _ in pythia)
        + ") t(benchmark, model, scaffold, n_items, accuracy, series, step, source_file)",
        [value for run in pythia for value in run],
    )
    rows = _copy(
        conn,
        f"""
        SELECT 'pythia:' || model || ':' || scaffold || ':' || benchmark AS run_id,
               'EleutherAI/pythia evals/pythia-v1' AS source, 'lm-eval' AS harness, benchmark, model, scaffold,
               n_items::INTEGER AS n_items, accuracy, CAST(NULL AS DOUBLE) AS total_cost_usd,
               CAST(NULL AS DOUBLE) AS seconds_per_item, CAST(NULL AS TIMESTAMP) AS started_at,
               series, step::BIGINT AS step, {PYTHIA_FINAL_STEP}::BIGINT AS final_step,
               step::BIGINT * {PYTHIA_TOKENS_PER_STEP} AS tokens_seen
        FROM pythia ORDER BY series, step, scaffold, benchmark
        """,
        out_dir / "pythia_checkpoints.parquet",
    )
    datasets["pythia"] = {
        "aggregate_runs": rows,
        "series": len({run[5] for run in pythia}),
        "checkpoints": len({run[1] for run in pythia}),
        "files": len({run[7] for run in pythia}),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


PYTHIA_FINAL_STEP = 143_000
"""Every Pythia run trains for 143,000 steps (Biderman et al. 2023, section 2.4)..."""
PYTHIA_TOKENS_PER_STEP = 2_097_152
"""...of 1,024 sequences of 2,048 tokens: 2,097,152 tokens a step, 300B in all."""

PythiaRun = tuple[str, str, str, int | None, float, str, int, str]
"""benchmark, model, scaffold, n_items, accuracy, series, step, source file"""


def _pythia_runs(folder: Path) -> list[PythiaRun]:
    """The Pythia checkpoint evaluations, read by evalbudget's own lm-eval results reader (so the sample store
    names tasks, models, shots and steps as `evalbudget ingest` of the same files does)."""
    from evalbudget.engine.ingest.common import read_json_file
    from evalbudget.engine.ingest.lm_eval_results import read_results

    runs: list[PythiaRun] = []
    for path in sorted(folder.rglob("*.json")):
        parsed = read_results(read_json_file(path), path)
        if parsed.series is None or parsed.step is None:
            raise SystemExit(f"{path}: names no checkpoint")
        relative = str(path.relative_to(folder))
        runs += [
            (r.benchmark, r.model, r.scaffold, r.n_items, r.accuracy, parsed.series, parsed.step, relative)
            for r in parsed.runs
        ]
    return runs


HalRun = tuple[str, str, str, str, str, float, float | None]
"""run_id, source, benchmark, model, scaffold, accuracy, total_cost_usd"""


def _hal_runs(folder: Path) -> list[HalRun]:
    """HAL's leaderboard as Every Eval Ever records, read by evalbudget's own EEE reader (so the sample store
    names benchmarks, models and scaffolds as `evalbudget ingest` of the same records does)."""
    from evalbudget.engine.ingest.common import read_json_file
    from evalbudget.engine.ingest.eee_record import read_record

    runs: list[HalRun] = []
    for path in sorted(folder.rglob("*.json")):
        data = read_json_file(path)
        run = read_record(data, path)
        runs.append(
            (
                f"hal:{data['evaluation_id']}",
                run.source,
                run.benchmark,
                run.model,
                run.scaffold,
                run.accuracy,
                run.total_cost_usd,
            )
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    print(json.dumps(build(args.data, args.out), indent=2))


if __name__ == "__main__":
    main()
