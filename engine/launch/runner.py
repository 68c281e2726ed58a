"""Running a plan: stage by stage, under the hard spend cap, committing every rollout as it finishes.

A launch is known by a hash of its plan file and backend settings, so running the same launch again runs
only what is missing (after a crash, a kill -9 or a spent budget), and never records a rollout twice. When
the cap is reached no new request starts; those in flight finish and are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import numpy as np
from pydantic import BaseModel

from evalbudget.engine.items import read_items
from evalbudget.engine.launch.backends import Backend, BackendError, Unit, UnitResult
from evalbudget.engine.launch.guard import SpendGuard
from evalbudget.engine.plan import Plan, PlanStage
from evalbudget.engine.records import ITEMS, ROLLOUTS, RUNS, Item, Rollout

Z95 = 1.96
EXIT_BUDGET_EXHAUSTED = 3


class LaunchReport(BaseModel):
    run_id: str
    backend: str
    launched: int
    """Requests started by this invocation."""
    completed: int
    failed: int
    """Requests that failed after retries (not recorded: a rerun tries them again)."""
    skipped_existing: int
    """Units already recorded by an earlier invocation of the same launch."""
    missing: int = 0
    """Replay only: units the store has no rollout for (reported, never invented)."""
    spend_usd: float
    gpu_seconds: float
    status: str
    """completed, budget_exhausted, cancelled or failed."""
    stages: list[dict[str, int | str]]
    errors: list[str] = []
    """The first distinct reasons requests failed (up to five)."""
    retries: int = 0
    """Requests repeated after a 429, a 5xx, a timeout or a dropped connection."""


def launch_id(plan_text: str, backend: str, model_map: dict[str, str], base_url: str | None) -> str:
    key = "\n".join([plan_text, backend, base_url or "", *sorted(f"{k}={v}" for k, v in model_map.items())])
    return "launch-" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class Progress:
    """A one-line progress bar on stderr when it is a terminal: units done, spend vs cap, ETA."""

    total: int
    cap: float | None
    enabled: bool = field(default_factory=lambda: sys.stderr.isatty())
    started: float = field(default_factory=time.monotonic)
    done: int = 0

    def update(self, stage: str, spent: float) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else math.nan
        cap = f" / ${self.cap:,.4f}" if self.cap is not None else ""
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        eta_text = "--:--" if math.isnan(eta) else f"{int(eta) // 60:02d}:{int(eta) % 60:02d}"
        print(
            f"\r[{bar}] {stage} {self.done}/{self.total}  spend ${spent:,.4f}{cap}  ETA {eta_text}  ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


GROUP_COMMIT_WINDOW_S = 0.2
"""How long finished rollouts may wait to share a commit: bounds what a kill -9 can lose to 0.2 s of work
(re-run on resume), and cuts commits many-fold at hundreds of requests a second."""
GROUP_COMMIT_ROWS = 256
"""A batch this large commits at once."""


class Launcher:
    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        plan: Plan,
        backend: Backend,
        *,
        run_id: str,
        source: str,
        max_spend: float | None,
        concurrency: int = 4,
        gpu_seconds: Callable[[], float] | None = None,
    ) -> None:
        self.conn = conn
        self.plan = plan
        self.backend = backend
        self.run_id = run_id
        self.source = source
        self.guard = SpendGuard(cap=max_spend)
        self.concurrency = max(1, concurrency)
        self.gpu_seconds = gpu_seconds or (lambda: 0.0)
        self.cancelled = False
        self.stage_exhausted = False
        self.errors: list[str] = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalbudget-writer")
        self._writer_cursor: duckdb.DuckDBPyConnection | None = None
        self._pending: list[tuple[Rollout, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.counts = {"launched": 0, "completed": 0, "failed": 0, "skipped": 0}
        self.on_result: Callable[[Unit, UnitResult], None] | None = None

    def cancel(self) -> None:
        """Start nothing more; what is in flight finishes and is recorded."""
        self.cancelled = True

    def _register_run(self) -> None:
        exists = self.conn.execute("SELECT count(*) FROM runs WHERE run_id = ?", [self.run_id]).fetchone()
        if not exists or not exists[0]:
            self.conn.execute(
                f"{RUNS.insert(('run_id', 'source', 'harness', 'source_path', 'imported_at', 'benchmark'))} "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    self.run_id,
                    self.source,
                    f"launch:{self.backend.name}",
                    self.source,
                    datetime.now(UTC).replace(tzinfo=None),
                    self.plan.benchmark,
                ],
            )

    def _recorded(self) -> set[tuple[str, str, str, int]]:
        """Units this launch already recorded; a plan naming a model without its scaffold matches any."""
        rows = self.conn.execute(
            'SELECT model, scaffold, item_id, "repeat" FROM rollouts WHERE run_id = ?', [self.run_id]
        ).fetchall()
        exact = {(str(m), str(s), str(i), int(r)) for m, s, i, r in rows}
        return exact | {(str(m), "", str(i), int(r)) for m, _, i, r in rows}

    def _row(self, unit: Unit, result: UnitResult) -> Rollout:
        return Rollout(
            run_id=self.run_id,
            benchmark=self.plan.benchmark,
            item_id=unit.item.item_id,
            model=unit.store_model,
            scaffold=unit.scaffold or result.scaffold or "",
            repeat=unit.repeat,
            score=result.score,
            status=result.status,
            input_tokens=result.input_tokens,
            cached_input_tokens=result.cached_input_tokens,
            output_tokens=result.output_tokens,
            reasoning_tokens=result.reasoning_tokens,
            cost_usd=result.cost_usd,
            cost_source=result.cost_source if result.cost_usd is not None else "unknown",
            latency_s=result.latency_s,
            gpu_seconds=result.gpu_seconds,
            gpu_type=result.gpu_type,
            api_calls=result.api_calls,
            started_at=result.started_at,
        )

    def _commit(self, rows: list[Rollout]) -> None:
        """Insert finished rollouts in one transaction, on the writer thread (its own DuckDB cursor).

        Duplicates cannot arise: units already recorded are skipped, each unit runs once per invocation, and the
        store's one-writer lock keeps a second invocation of the same launch out.
        """
        if self._writer_cursor is None:
            self._writer_cursor = self.conn.cursor()
            # a launch's inserts are small: one DuckDB thread leaves the other cores to the requests
            self._writer_cursor.execute("SET threads = 1")
        # One JSON parameter for the whole batch: DuckDB parses it without holding Python's lock, where
        # binding thousands of separate parameters would hold it (and stall the requests meanwhile).
        payload = json.dumps(
            [dict(zip(ROLLOUTS.names, row.values(), strict=True)) for row in rows], default=str
        )
        self._writer_cursor.execute(
            f"{ROLLOUTS.insert()} SELECT unnest(from_json(?::JSON, '[{ROLLOUTS.json_struct()}]'), recursive := true)",
            [payload],
        )

    async def _record(self, unit: Unit, result: UnitResult) -> None:
        """Commit one finished rollout; returns once it is durable.

        Group commit: rollouts that finish while a commit is being written go into the next one, which starts
        as soon as the writer is free; none waits longer than one commit, and requests go on meanwhile.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((self._row(unit, result), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            if len(self._pending) < GROUP_COMMIT_ROWS:
                # let a few more finish first: fewer, larger commits cost the machine less (no request waits on
                # this: a finished request's slot is already free)
                await asyncio.sleep(GROUP_COMMIT_WINDOW_S)
            batch, self._pending = self._pending, []
            try:
                await loop.run_in_executor(self._writer, self._commit, [row for row, _ in batch])
            except BaseException as exc:
                for _, done in batch:
                    done.set_exception(exc)
                raise
            for _, done in batch:
                done.set_result(None)

    async def run(self) -> LaunchReport:
        self._register_run()
        recorded = self._recorded()
        item_ids = [i for s in self.plan.stages for i in s.item_ids]
        items = read_items(self.conn, self.plan.benchmark, item_ids)
        self.conn.execute(
            f"{ITEMS.insert(('benchmark', 'item_id'))} SELECT ?, unnest(?::VARCHAR[]) ON CONFLICT DO NOTHING",
            [self.plan.benchmark, sorted(set(item_ids))],
        )
        total = sum(len(s.models) * len(s.item_ids) * s.repeats for s in self.plan.stages)
        progress = Progress(total=total, cap=self.guard.cap)
        stage_reports: list[dict[str, int | str]] = []
        status = "completed"
        await self.backend.start()
        models: list[str] = []
        try:
            for index, stage in enumerate(self.plan.stages):
                models = (
                    list(stage.models) if index == 0 or stage.narrow is None else self._narrow(stage, models)
                )
                report = await self._run_stage(stage, models, items, recorded, progress)
                stage_reports.append(report)
                if self.stage_exhausted and index == len(self.plan.stages) - 1:
                    self.guard.exhausted = True  # the plan's own budget ran out before its last stage did
                if self.guard.exhausted or self.cancelled:
                    break
        finally:
            await self.backend.stop()
            progress.close()
            self._writer.shutdown(wait=True)
            if self._writer_cursor is not None:
                # the thread setting is the database's, not the cursor's: give it back
                with contextlib.suppress(duckdb.Error):
                    self._writer_cursor.execute("RESET threads")
                self._writer_cursor.close()
        settled = getattr(self.backend, "settled_total", None)
        if settled is not None:  # local GPUs: what was spent is the time the servers were held
            self.guard.spent = float(settled())
        if self.cancelled:
            status = "cancelled"
        elif self.guard.exhausted:
            status = "budget_exhausted"
        elif self.counts["failed"] and not self.counts["completed"]:
            status = "failed"
        return LaunchReport(
            run_id=self.run_id,
            backend=self.backend.name,
            launched=self.counts["launched"],
            completed=self.counts["completed"],
            failed=self.counts["failed"],
            skipped_existing=self.counts["skipped"],
            missing=int(getattr(self.backend, "missing", 0)),
            spend_usd=self.guard.spent,
            gpu_seconds=float(getattr(self.backend, "gpu_seconds", self.gpu_seconds)()),
            status=status,
            stages=stage_reports,
            errors=self.errors,
            retries=int(getattr(self.backend, "retries", 0)),
        )

    async def _prepare(self, unit: Unit, in_flight: set[asyncio.Task[None]]) -> bool:
        """Let a local backend start the unit's model, its start-up reserved and charged; False if the budget
        cannot cover a start-up."""
        prepare = getattr(self.backend, "prepare", None)
        startup = getattr(self.backend, "startup_worst_case", None)
        if prepare is None or startup is None:
            return True
        worst = float(startup(unit))
        if worst == 0.0:
            return True
        if in_flight:  # the previous model's requests finish before its server goes
            await asyncio.gather(*in_flight)
        if not self.guard.try_reserve(worst):
            return False
        try:
            actual = float(await prepare(unit))
        except BaseException:
            self.guard.release(worst)
            raise
        self.guard.settle(worst, actual)
        return True

    def _narrow(self, stage: PlanStage, previous: Sequence[str]) -> list[str]:
        """The stage's models chosen from this run's results so far: coarse-to-fine keeps the candidates whose
        95% interval reaches the top tier; successive halving keeps the better half of ``previous``."""
        rows = self.conn.execute(
            "SELECT model, scaffold, list(coalesce(score, 0)) FROM rollouts WHERE run_id = ? GROUP BY ALL",
            [self.run_id],
        ).fetchall()
        scores = {(m if not s else f"{m}@{s}"): np.asarray(v, dtype=np.float64) for m, s, v in rows}
        if stage.narrow == "top-half":
            pool = [c for c in previous if c in stage.models]
            mean = {c: float(scores[c].mean()) if c in scores and scores[c].size else -math.inf for c in pool}
            ranked = sorted(pool, key=lambda c: -mean[c])  # stable: ties keep the plan's order
            return ranked[: math.ceil(len(pool) / 2)]
        seen = [c for c in stage.models if c in scores and scores[c].size]
        if len(seen) <= 3:
            return list(stage.models)
        mean_array = np.array([scores[c].mean() for c in seen])
        stderr = np.array(
            [scores[c].std(ddof=1) / math.sqrt(scores[c].size) if scores[c].size > 1 else 0.5 for c in seen]
        )
        threshold = np.sort(mean_array - Z95 * stderr)[::-1][2]
        return [c for c, m, e in zip(seen, mean_array, stderr, strict=True) if m + Z95 * e >= threshold]

    async def _run_stage(
        self,
        stage: PlanStage,
        models: Sequence[str],
        items: dict[str, Item],
        recorded: set[tuple[str, str, str, int]],
        progress: Progress,
    ) -> dict[str, int | str]:
        stage_guard = SpendGuard(cap=stage.budget_usd)
        semaphore = asyncio.Semaphore(self.concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        done_here = {"completed": 0, "failed": 0, "skipped": 0}

        async def one(unit: Unit, reserved: float) -> None:
            holding = True
            try:
                result = await self.backend.run(unit)
            except BackendError as exc:
                if str(exc) not in self.errors and len(self.errors) < 5:
                    self.errors.append(str(exc))
                self.guard.release(reserved)
                stage_guard.release(reserved)
                self.counts["failed"] += 1
                done_here["failed"] += 1
            else:
                actual = result.cost_usd or 0.0
                self.guard.settle(reserved, actual)
                stage_guard.settle(reserved, actual)
                # the request is over and its spend settled: its slot goes to the next request while the
                # rollout waits for its group commit (the task stays in flight until it is durable)
                semaphore.release()
                holding = False
                await self._record(unit, result)
                self.counts["completed"] += 1
                done_here["completed"] += 1
                if self.on_result is not None:
                    try:
                        self.on_result(unit, result)
                    except Exception:  # a display's failure must not stop the launch: the rollout is recorded
                        self.on_result = None
            finally:
                if holding:
                    semaphore.release()
                progress.done += 1
                progress.update(stage.name, self.guard.spent)

        def units() -> Iterator[Unit]:
            if getattr(self.backend, "model_major", False):  # local servers: one model at a time
                for model in models:
                    for item_id in stage.item_ids:
                        for repeat in range(stage.repeats):
                            yield Unit(stage.name, model, items[item_id], repeat)
                return
            # item by item, every model on an item before the next: a stop leaves a comparable slice
            for item_id in stage.item_ids:
                for repeat in range(stage.repeats):
                    for model in models:
                        yield Unit(stage.name, model, items[item_id], repeat)

        for unit in units():
            if (unit.store_model, unit.scaffold, unit.item.item_id, unit.repeat) in recorded:
                self.counts["skipped"] += 1
                done_here["skipped"] += 1
                progress.done += 1
                continue
            await semaphore.acquire()
            if not await self._prepare(unit, in_flight):
                semaphore.release()
                break
            worst = self.backend.worst_case_cost(unit)
            if self.cancelled or not self.guard.try_reserve(worst):
                semaphore.release()
                break
            if not stage_guard.try_reserve(worst):
                self.guard.release(worst)
                semaphore.release()
                break
            self.counts["launched"] += 1
            task = asyncio.create_task(one(unit, worst))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)
        self.stage_exhausted = stage_guard.exhausted
        return {"stage": stage.name, "models": len(models), **done_here}
