"""The bundled sample store: Parquet files derived from public eval results by ``build.py``.

See README.md here for each dataset's source, commit, license and what was derived.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
AGGREGATE_RUNS = ("aider_runs.parquet", "hal_runs.parquet", "pythia_checkpoints.parquet")
CHECKPOINT_RUNS = ("pythia_checkpoints.parquet",)
"""Aggregate runs of checkpoints: each row also names its series, step, final step and tokens seen."""


def rollout_files() -> list[Path]:
    """The per-rollout Parquet files, in the project's table format."""
    return sorted(p for p in SAMPLE_DIR.glob("*.parquet") if p.name not in AGGREGATE_RUNS)


def aggregate_runs_files() -> list[Path]:
    """The files of aggregate-only runs (sources that publish totals, not items): one row per run."""
    return [SAMPLE_DIR / name for name in AGGREGATE_RUNS]


def checkpoint_files() -> list[Path]:
    """The aggregate-run files whose models are checkpoints of training series."""
    return [SAMPLE_DIR / name for name in CHECKPOINT_RUNS]
