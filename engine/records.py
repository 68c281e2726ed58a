"""The store's records, defined once: a rollout, a run and an item, with each column's DuckDB type.

Ingest readers, the launcher's writer and the seeding of a new store name their columns from these records,
and a test holds the migrated schema to them, so the columns and types are written here and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import cached_property

from evalbudget.engine.errors import InputError


def sql(sql_type: str, doc: str = "") -> dict[str, str]:
    """A record field's metadata: the store column's DuckDB type, and what it means."""
    return {"sql_type": sql_type, "doc": doc}


@dataclass(frozen=True)
class Columns:
    """A table's columns in the store's order, with their DuckDB types."""

    table: str
    types: dict[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.types)

    def insert(self, names: tuple[str, ...] | list[str] | None = None) -> str:
        """``INSERT INTO table (c1, c2, ...)`` naming ``names`` (default: every column), which must be columns."""
        chosen = list(self.names if names is None else names)
        unknown = [n for n in chosen if n not in self.types]
        if unknown:
            raise ValueError(f"{self.table} has no column {unknown[0]!r}")
        return f"INSERT INTO {self.table} ({', '.join(quoted(n) for n in chosen)})"

    def json_struct(self, names: tuple[str, ...] | None = None) -> str:
        """The columns as a DuckDB JSON structure (for ``from_json`` and ``read_json``)."""
        chosen = self.names if names is None else names
        return json.dumps({n: self.types[n] for n in chosen})


def struct_literal(types: dict[str, str]) -> str:
    """Column names and DuckDB types as a struct literal, the ``columns=`` of ``read_csv`` and ``read_json``."""
    return "{" + ", ".join("'" + n.replace("'", "''") + f"': '{t}'" for n, t in types.items()) + "}"


def quoted(name: str) -> str:
    """A column name as SQL: ``repeat`` is a keyword."""
    return f'"{name}"' if name == "repeat" else name


def columns_of(record: type, table: str) -> Columns:
    return Columns(table, {f.name: f.metadata["sql_type"] for f in fields(record)})


@dataclass(frozen=True)
class Rollout:
    """One attempt of one (model, scaffold) on one benchmark item (DESIGN.md, Data model)."""

    run_id: str = field(metadata=sql("VARCHAR", "the run it came from: one source file, or one launch"))
    benchmark: str = field(metadata=sql("VARCHAR"))
    item_id: str = field(metadata=sql("VARCHAR"))
    model: str = field(metadata=sql("VARCHAR"))
    scaffold: str = field(
        metadata=sql("VARCHAR", "agent harness, edit format, judge or prompt style; '' when none")
    )
    repeat: int = field(metadata=sql("INTEGER", "0.. for repeated attempts (epochs)"))
    score: float | None = field(metadata=sql("DOUBLE", "in [0, 1]; NULL when the rollout produced none"))
    status: str = field(metadata=sql("VARCHAR", "ok, error, or limit (hit a token, cost or time cap)"))
    input_tokens: int | None = field(default=None, metadata=sql("BIGINT"))
    cached_input_tokens: int | None = field(
        default=None, metadata=sql("BIGINT", "input tokens read from the provider's prompt cache")
    )
    cache_write_tokens: int | None = field(
        default=None, metadata=sql("BIGINT", "input tokens written to the provider's prompt cache")
    )
    output_tokens: int | None = field(default=None, metadata=sql("BIGINT"))
    reasoning_tokens: int | None = field(default=None, metadata=sql("BIGINT"))
    cost_usd: float | None = field(default=None, metadata=sql("DOUBLE"))
    cost_source: str = field(
        default="unknown",
        metadata=sql(
            "VARCHAR", "recorded, priced, worst-case (a launched attempt whose usage is unknown) or unknown"
        ),
    )
    latency_s: float | None = field(default=None, metadata=sql("DOUBLE"))
    gpu_seconds: float | None = field(default=None, metadata=sql("DOUBLE"))
    gpu_type: str | None = field(default=None, metadata=sql("VARCHAR"))
    api_calls: int | None = field(
        default=None, metadata=sql("INTEGER", "LLM calls inside the rollout (agents)")
    )
    started_at: datetime | None = field(default=None, metadata=sql("TIMESTAMP"))

    def values(self) -> list[object]:
        return [getattr(self, name) for name in ROLLOUTS.names]


@dataclass(frozen=True)
class Run:
    """One ingested file or one launch; aggregate-only sources (no per-item rows) keep their totals here."""

    run_id: str = field(metadata=sql("VARCHAR"))
    source: str = field(metadata=sql("VARCHAR", "where it came from: a name the user gave, or the file"))
    harness: str = field(
        metadata=sql("VARCHAR", "table, inspect, lm-eval, helm, eee, hal, aider, launch:BACKEND")
    )
    source_path: str | None = field(
        default=None, metadata=sql("VARCHAR", "the file as given on the command line")
    )
    content_sha256: str | None = field(default=None, metadata=sql("VARCHAR", "makes ingest idempotent"))
    imported_at: datetime | None = field(default=None, metadata=sql("TIMESTAMP"))
    price_version: str | None = field(default=None, metadata=sql("VARCHAR"))
    aggregate_only: bool = field(default=False, metadata=sql("BOOLEAN"))
    benchmark: str | None = field(default=None, metadata=sql("VARCHAR"))
    model: str | None = field(default=None, metadata=sql("VARCHAR"))
    scaffold: str | None = field(default=None, metadata=sql("VARCHAR"))
    n_items: int | None = field(default=None, metadata=sql("INTEGER"))
    accuracy: float | None = field(default=None, metadata=sql("DOUBLE"))
    total_cost_usd: float | None = field(default=None, metadata=sql("DOUBLE"))
    seconds_per_item: float | None = field(default=None, metadata=sql("DOUBLE"))
    started_at: datetime | None = field(default=None, metadata=sql("TIMESTAMP"))
    plan_id: str | None = field(
        default=None, metadata=sql("VARCHAR", "a launch's plan: the cap is the plan's")
    )
    excluded: bool = field(
        default=False, metadata=sql("BOOLEAN", "left out of the history by the user; its rows stay stored")
    )


MESSAGE_OVERHEAD_TOKENS = 8  # role markers and separators a chat template adds per message


@dataclass(frozen=True)
class Item:
    """A benchmark item; the launcher can run it when it has a prompt, a target and a scorer."""

    benchmark: str = field(metadata=sql("VARCHAR"))
    item_id: str = field(metadata=sql("VARCHAR"))
    stratum: str | None = field(default=None, metadata=sql("VARCHAR", "repo, subset or difficulty"))
    input: str | None = field(
        default=None, metadata=sql("VARCHAR", "the prompt: a string or a JSON list of chat messages")
    )
    target: str | None = field(default=None, metadata=sql("VARCHAR"))
    scorer: str | None = field(default=None, metadata=sql("VARCHAR", "exact, includes, choice, numeric"))
    choices: str | None = field(default=None, metadata=sql("VARCHAR", "JSON list"))
    max_tokens: int | None = field(default=None, metadata=sql("INTEGER"))

    def messages(self) -> list[dict[str, str]]:
        return [dict(m) for m in self._messages]

    @cached_property
    def _messages(self) -> tuple[dict[str, str], ...]:
        """The prompt as chat messages, parsed once per item (every model and repeat asks again)."""
        if self.input is None:
            raise InputError(
                f"Item {self.item_id!r} has no prompt: load the benchmark's items with `evalbudget items load`."
            )
        try:
            parsed = json.loads(self.input)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return tuple({"role": str(m["role"]), "content": str(m["content"])} for m in parsed)
        return ({"role": "user", "content": self.input},)

    @cached_property
    def _token_bound(self) -> int:
        return sum(len(m["content"].encode()) + MESSAGE_OVERHEAD_TOKENS for m in self._messages)

    def prompt_token_bound(self) -> int:
        """An upper bound on the prompt's tokens: a BPE token covers at least one byte."""
        return self._token_bound


@dataclass(frozen=True)
class Charge:
    """Money a launched attempt may have cost with no rollout recorded for it (a timeout, a dropped connection
    or a 5xx after the request was sent): charged at its worst case, so the plan's cap counts it."""

    run_id: str = field(metadata=sql("VARCHAR"))
    benchmark: str = field(metadata=sql("VARCHAR"))
    item_id: str = field(metadata=sql("VARCHAR"))
    model: str = field(metadata=sql("VARCHAR"))
    scaffold: str = field(metadata=sql("VARCHAR"))
    repeat: int = field(metadata=sql("INTEGER"))
    cost_usd: float = field(metadata=sql("DOUBLE"))
    reason: str = field(metadata=sql("VARCHAR"))
    charged_at: datetime = field(metadata=sql("TIMESTAMP"))
    attempt: str | None = field(default=None, metadata=sql("VARCHAR"))
    """The journalled attempt this charge settles (``<journal>#<n>``), so recovery never charges it twice."""

    def values(self) -> list[object]:
        return [getattr(self, name) for name in CHARGES.names]


@dataclass(frozen=True)
class Checkpoint:
    """A model that is one checkpoint of a training run: its series and step."""

    model: str = field(metadata=sql("VARCHAR"))
    series: str = field(metadata=sql("VARCHAR"))
    step: int = field(metadata=sql("BIGINT"))
    final_step: int | None = field(default=None, metadata=sql("BIGINT"))
    """The series' last training step, where known: progress is step / final_step."""
    tokens_seen: int | None = field(default=None, metadata=sql("BIGINT"))


@dataclass(frozen=True)
class ModelDate:
    """When a model came out (the table format's optional ``release_date`` column)."""

    model: str = field(metadata=sql("VARCHAR"))
    release_date: date = field(metadata=sql("DATE"))


@dataclass(frozen=True)
class IntervalCheck:
    """How a strategy's 90% score intervals held on a benchmark's past data (``evalbudget results --coverage``):
    the last check per benchmark and strategy."""

    benchmark: str = field(metadata=sql("VARCHAR"))
    strategy: str = field(metadata=sql("VARCHAR"))
    budget: str = field(metadata=sql("VARCHAR", "each replayed plan's budget, e.g. 10%"))
    splits: int = field(metadata=sql("INTEGER", "plans replayed"))
    coverage: float = field(metadata=sql("DOUBLE", "share of candidates whose full-data score fell inside"))
    width: float | None = field(metadata=sql("DOUBLE", "mean width of the intervals"))
    tau_inside: float | None = field(
        metadata=sql("DOUBLE", "share of plans whose tau fell inside the predicted 90% interval")
    )
    checked_at: datetime = field(metadata=sql("TIMESTAMP"))


ROLLOUTS = columns_of(Rollout, "rollouts")
INTERVAL_CHECKS = columns_of(IntervalCheck, "interval_checks")
CHECKPOINTS = columns_of(Checkpoint, "checkpoints")
MODELS = columns_of(ModelDate, "models")
CHARGES = columns_of(Charge, "charges")
RUNS = columns_of(Run, "runs")
NOT_HISTORY = "SELECT run_id FROM runs WHERE excluded OR harness = 'launch:replay'"
"""Runs that are no history of the models they ran: the ones the user left out, and replayed launches (copies of
rollouts the store holds already). Simulation, the frontier and replay all leave these out."""
LAUNCHED = "SELECT run_id FROM runs WHERE harness LIKE 'launch:%'"
"""Runs the launcher wrote (any backend): a replay answers only from what was ingested, never from these."""
ITEMS = columns_of(Item, "items")
INGESTED_ROLLOUT_COLUMNS = {n: t for n, t in ROLLOUTS.types.items() if n not in ("run_id", "cost_source")}
"""What an ingest reader parses from a source; ingest fills run_id and cost_source itself."""
