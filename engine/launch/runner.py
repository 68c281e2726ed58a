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
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import numpy as np
from pydantic import BaseModel

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.items import read_items
from evalbudget.engine.launch.backends import Backend, BackendError, Unit, UnitResult
from evalbudget.engine.launch.guard import SpendGuard
from evalbudget.engine.launch.journal import Journal, journal_folder, recover
from evalbudget.engine.launch.ray_pool import describe_cluster
from evalbudget.engine.plan import PLAN_RUNS, Plan, PlanStage, plan_id
from evalbudget.engine.records import CHARGES, ITEMS, ROLLOUTS, RUNS, Charge, Item, Rollout
from evalbudget.engine.stages import (
    StageRun,
    abilities,
    information_keys,
    keep,
    stage_allowances,
    within,
)

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
    stages: list[dict[str, object]]
    """Per stage: its name, how many models it ran and which (``model_names``), and its counts of items,
    completed, failed and skipped units."""
    errors: list[str] = []
    """The first distinct reasons requests failed (up to five)."""
    retries: int = 0
    """Requests repeated after a 429, a 5xx, a timeout or a dropped connection."""
    plan_id: str = ""
    plan_spent_usd: float = 0.0
    """What every run of this plan has spent, this one included: the cap is the plan's."""
    unsettled_usd: float = 0.0
    """How much of this invocation's spend is worst case: attempts whose outcome or usage is unknown."""
    overrun_usd: float = 0.0
    """What the provider reported beyond the reserved worst case (the launch stopped starting requests)."""
    recovered_usd: float = 0.0
    cluster: dict[str, object] | None = None
    """With --ray: ``{"address", "nodes", "workers", "tasks", "workers_lost"}`` of the cluster the requests
    were sent from."""
    """Requests a killed launch of this store had in flight, charged at their worst case as this one started."""


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
    cluster: Callable[[], dict[str, object] | None] = lambda: None
    """The Ray cluster the requests go through (--ray), shown on the line."""

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
        ray = self.cluster()
        on = f"  {describe_cluster(ray, short=True)}" if ray else ""
        print(
            f"\r[{bar}] {stage} {self.done}/{self.total}  spend ${spent:,.4f}{cap}  ETA {eta_text}{on}  ",
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
        progress: bool = True,
    ) -> None:
        """``progress``: draw a progress line on stderr when it is a terminal (not inside the app)."""
        self.conn = conn
        self.show_progress = progress
        self.plan = plan
        self.backend = backend
        self.run_id = run_id
        self.source = source
        self.guard = SpendGuard(cap=max_spend)
        self.plan_id = plan_id(plan)
        self.spent_before = 0.0
        """What earlier runs of the plan had spent when this one started."""
        self.unsettled = 0.0
        self.overrun = 0.0
        self.concurrency = max(1, concurrency)
        self.gpu_seconds = gpu_seconds or (lambda: 0.0)
        self.cancelled = False
        self.stage_exhausted = False
        self.errors: list[str] = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalbudget-writer")
        self._writer_cursor: duckdb.DuckDBPyConnection | None = None
        self._pending: list[tuple[Rollout, asyncio.Future[None]]] = []
        self._charges: list[Charge] = []
        """Worst-case charges not yet in the store; they go with the next group commit (or at the end)."""
        self._flusher: asyncio.Task[None] | None = None
        self._journal = Journal(None, run_id, plan.benchmark)
        """Reservations written before their requests go (replaced by the store's journal in run())."""
        self._settling: list[int] = []
        """Journal reservations whose outcome the next group commit makes durable."""
        self.recovered_usd = 0.0
        """What dead launches had in flight, charged at the worst case when this one started."""
        self._requests = 0
        """Requests out now (sent, not yet answered)."""
        self._requests_out = asyncio.Event()
        """Set when the last request out comes back: the group commit need not wait for more."""
        self.counts = {"launched": 0, "completed": 0, "failed": 0, "skipped": 0}
        self.stage_runs: list[StageRun] = []
        self._ran_picks: dict[Candidate, list[str]] | None = None
        """What each stage of this invocation ran (recorded units skipped included)."""
        self.on_result: Callable[[Unit, UnitResult], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        """Set on cancel: backends that wait between attempts (their ``stopping``) stop waiting."""

    def cancel(self) -> None:
        """Start nothing more; what is in flight finishes and is recorded, and a unit waiting to retry ends its
        wait. Safe to call from another thread (the app's) or a signal handler."""
        self.cancelled = True
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing waits any more
                loop.call_soon_threadsafe(stopping.set)

    def _register_run(self) -> None:
        exists = self.conn.execute("SELECT count(*) FROM runs WHERE run_id = ?", [self.run_id]).fetchone()
        if not exists or not exists[0]:
            self.conn.execute(
                f"{RUNS.insert(('run_id', 'source', 'harness', 'source_path', 'imported_at', 'benchmark', 'plan_id'))} "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    self.run_id,
                    self.source,
                    f"launch:{self.backend.name}",
                    self.source,
                    datetime.now(UTC).replace(tzinfo=None),
                    self.plan.benchmark,
                    self.plan_id,
                ],
            )

    def _plan_runs_parameters(self) -> dict[str, object]:
        return {"plan": self.plan_id, "replay": self.backend.name == "replay"}

    def _plan_spend(self) -> float:
        """What every run of this plan has spent so far: its rollouts' costs and the worst-case charges of
        attempts that recorded none."""
        row = self.conn.execute(
            f"""
            SELECT coalesce((SELECT sum(cost_usd) FROM rollouts WHERE run_id IN ({PLAN_RUNS})), 0)
                 + coalesce((SELECT sum(cost_usd) FROM charges WHERE run_id IN ({PLAN_RUNS})), 0)
            """,
            self._plan_runs_parameters(),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    def _recorded(self) -> dict[tuple[str, str, str, int], float]:
        """Units the plan's runs already recorded (this launch's earlier invocations, or the same plan launched
        elsewhere), with what each cost in the plan's unit: a unit is recorded at most once per plan. A plan
        naming a model without its scaffold matches any."""
        rows = self.conn.execute(
            f'SELECT model, scaffold, item_id, "repeat", coalesce(cost_usd, 0) FROM rollouts WHERE run_id IN ({PLAN_RUNS})',
            self._plan_runs_parameters(),
        ).fetchall()
        recorded: dict[tuple[str, str, str, int], float] = {}
        for m, s, i, r, cost in rows:
            charged = float(cost) if self.plan.cost_unit == "usd" else 1.0
            recorded[(str(m), str(s), str(i), int(r))] = charged
            recorded.setdefault((str(m), "", str(i), int(r)), charged)
        return recorded

    def _row(self, unit: Unit, result: UnitResult) -> Rollout:
        return Rollout(
            run_id=self.run_id,
            benchmark=self.plan.benchmark,
            item_id=unit.item.item_id,
            model=unit.model,
            scaffold=unit.scaffold or result.scaffold or "",
            repeat=unit.repeat,
            score=result.score,
            status=result.status,
            input_tokens=result.input_tokens,
            cached_input_tokens=result.cached_input_tokens,
            cache_write_tokens=result.cache_write_tokens,
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

    def _commit(self, rows: list[Rollout], charges: list[Charge]) -> None:
        """Insert finished rollouts and worst-case charges in one transaction, on the writer thread (its own
        DuckDB cursor).

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
        cursor = self._writer_cursor
        cursor.execute("BEGIN TRANSACTION")
        try:
            if charges:
                cursor.executemany(
                    f"{CHARGES.insert()} VALUES ({', '.join('?' for _ in CHARGES.names)})",
                    [charge.values() for charge in charges],
                )
            if rows:
                cursor.execute(
                    f"{ROLLOUTS.insert()} SELECT unnest(from_json(?::JSON, '[{ROLLOUTS.json_struct()}]'), "
                    "recursive := true)",
                    [payload],
                )
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise

    async def _record(self, unit: Unit, result: UnitResult, reservation: int) -> None:
        """Commit one finished rollout (and settle its journal ``reservation``); returns once it is durable.

        Group commit: rollouts that finish while a commit is being written go into the next one, which starts
        as soon as the writer is free; none waits longer than one commit, and requests go on meanwhile.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((self._row(unit, result), done))
        self._settling.append(reservation)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    def _charge(self, charge: Charge, reservation: int) -> None:
        """Keep a worst-case charge; it goes to the store with the next group commit, which settles its journal
        ``reservation``."""
        self._charges.append(charge)
        self._settling.append(reservation)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending or self._charges:
            if len(self._pending) < GROUP_COMMIT_ROWS:
                # let a few more finish first: fewer, larger commits cost the machine less (no request waits on
                # this: a finished request's slot is already free); when no request is out, nothing more is
                # coming soon, so the commit goes now (the end of a launch, a stage, or a server switch)
                if self._requests:
                    self._requests_out.clear()
                else:
                    self._requests_out.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._requests_out.wait(), GROUP_COMMIT_WINDOW_S)
            batch, self._pending = self._pending, []
            charges, self._charges = self._charges, []
            settling, self._settling = self._settling, []
            try:
                await loop.run_in_executor(self._writer, self._commit, [row for row, _ in batch], charges)
            except BaseException as exc:
                for _, done in batch:
                    done.set_exception(exc)
                raise
            self._journal.settled(settling)  # their outcomes are durable now
            for _, done in batch:
                done.set_result(None)

    async def run(self) -> LaunchReport:
        self._stopping = asyncio.Event()
        if hasattr(self.backend, "stopping"):
            self.backend.stopping = self._stopping
        if hasattr(self.backend, "guard"):  # a backend that may start a server mid-unit reserves it here
            self.backend.guard = self.guard
        self._loop = asyncio.get_running_loop()
        if self.cancelled:  # cancelled before it started
            self._stopping.set()
        self._register_run()
        folder = journal_folder(self.conn)
        self.recovered_usd = recover(self.conn, folder)  # a killed launch's requests in flight, charged
        self._journal = Journal(folder, self.run_id, self.plan.benchmark)
        self.spent_before = self._plan_spend()
        self.guard.spent = self.spent_before  # the cap is the plan's, across every run of it
        if self.guard.cap is not None and self.spent_before >= self.guard.cap:
            self.guard.exhausted = True
        recorded = self._recorded()
        item_ids = [i for s in self.plan.stages for i in s.item_ids]
        items = read_items(self.conn, self.plan.benchmark, item_ids)
        self.conn.execute(
            f"{ITEMS.insert(('benchmark', 'item_id'))} SELECT ?, unnest(?::VARCHAR[]) ON CONFLICT DO NOTHING",
            [self.plan.benchmark, sorted(set(item_ids))],
        )
        total = sum(len(s.models) * len(s.item_ids) * s.repeats for s in self.plan.stages)
        progress = Progress(
            total=total, cap=self.guard.cap, cluster=getattr(self.backend, "cluster", lambda: None)
        )
        progress.enabled = progress.enabled and self.show_progress
        stage_reports: list[dict[str, object]] = []
        status = "completed"
        await self.backend.start()
        models: list[Candidate] = []
        ran_items: list[str] = []  # what earlier stages ran, in order
        stage_spent = 0.0  # in the plan's cost unit, recorded units included
        stage_cap: float | None = 0.0
        try:
            for index, stage in enumerate(self.plan.stages):
                narrowing = index > 0 and stage.narrow is not None
                models = self._narrow(stage, models, ran_items) if narrowing else list(stage.models)
                # a stage's budget is cumulative: what earlier stages left unspent rolls over
                stage_cap = (
                    None if stage_cap is None or stage.budget_usd is None else stage_cap + stage.budget_usd
                )
                earlier = set(ran_items)
                stage_items = (
                    [i for i in stage.item_ids if i not in earlier] if stage.until_budget else stage.item_ids
                )
                picks = None
                if stage.pick is not None:
                    picks = self._pick(stage, models, items, stage_cap, stage_spent)
                    stage_items = list(dict.fromkeys(i for chosen in picks.values() for i in chosen))
                report, ran, stage_spent = await self._run_stage(
                    stage, models, stage_items, items, recorded, progress, stage_cap, stage_spent, picks
                )
                ran_items += [i for i in ran if i not in earlier]
                self.stage_runs.append(StageRun(stage.name, list(models), list(ran), self._ran_picks))
                stage_reports.append(report)
                if self.stage_exhausted and not stage.until_budget and index == len(self.plan.stages) - 1:
                    self.guard.exhausted = True  # the plan's own budget ran out before its last stage did
                if self.guard.exhausted or self.cancelled:
                    break
        finally:
            if self._flusher is not None:  # the last charges are in the store before the launch reports
                with contextlib.suppress(Exception):
                    await self._flusher
            await self.backend.stop()
            progress.close()
            self._writer.shutdown(wait=True)
            # every outcome is in the store unless the last commit failed: then the journal stays, and the
            # next launch charges what it holds at the worst case
            self._journal.close(remove=not (self._pending or self._charges))
            if self._writer_cursor is not None:
                # the thread setting is the database's, not the cursor's: give it back
                with contextlib.suppress(duckdb.Error):
                    self._writer_cursor.execute("RESET threads")
                self._writer_cursor.close()
        settled = getattr(self.backend, "settled_total", None)
        if settled is not None:  # local GPUs: what was spent is the time the servers were held
            self.guard.spent = self.spent_before + float(settled())
        if self.cancelled:
            status = "cancelled"
        elif self.overrun > 0:
            status = "provider_overrun"
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
            spend_usd=self.guard.spent - self.spent_before,
            gpu_seconds=float(getattr(self.backend, "gpu_seconds", self.gpu_seconds)()),
            status=status,
            stages=stage_reports,
            errors=self.errors,
            retries=int(getattr(self.backend, "retries", 0)),
            plan_id=self.plan_id,
            plan_spent_usd=self.guard.spent,
            unsettled_usd=self.unsettled,
            overrun_usd=self.overrun,
            recovered_usd=self.recovered_usd,
            cluster=getattr(self.backend, "cluster", lambda: None)(),
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
        return await self.guard.spend_on(worst, lambda: prepare(unit))

    async def _prepare_batch(self, models: Sequence[str], in_flight: set[asyncio.Task[None]]) -> bool:
        """Start a batch's servers together once the previous batch's requests are done, their start-ups
        reserved and charged; False if the budget cannot cover them."""
        if in_flight:
            await asyncio.gather(*in_flight)
        worst = float(self.backend.batch_worst_case(models))  # type: ignore[attr-defined]
        if worst == 0.0:
            return True
        return await self.guard.spend_on(worst, lambda: self.backend.prepare_batch(models))  # type: ignore[attr-defined]

    def _narrow(
        self, stage: PlanStage, previous: Sequence[Candidate], ran_items: Sequence[str]
    ) -> list[Candidate]:
        """The stage's models, chosen by its rule (engine.stages.keep, which the simulator applies too) from
        this launch's results on the items earlier stages ran."""
        pool = [c for c in previous if c in stage.models]
        scores = self._plan_scores(pool, list(dict.fromkeys(ran_items)))
        kept = keep(stage.narrow or "top3-interval", scores)
        return [c for c, k in zip(pool, kept, strict=True) if k]

    def _plan_scores(self, models: Sequence[Candidate], item_ids: Sequence[str]) -> np.ndarray:
        """(models, items) each model's mean score per item over this plan's runs, NaN where it ran none: one
        column per item, as the simulator sees them (the paired and adaptive rules compare item by item)."""
        column = {item: j for j, item in enumerate(item_ids)}
        scores = np.full((len(models), max(1, len(column))), np.nan)
        rows = self.conn.execute(
            f"SELECT model, scaffold, item_id, avg(coalesce(score, 0)) FROM rollouts WHERE run_id IN ({PLAN_RUNS}) "
            "AND list_contains($items, item_id) GROUP BY ALL",
            {**self._plan_runs_parameters(), "items": list(column)},
        ).fetchall()
        for name, scaffold, item_id, score in rows:
            row = next((k for k, c in enumerate(models) if c.matches(str(name), str(scaffold))), None)
            if row is not None:
                scores[row, column[str(item_id)]] = score
        return scores

    def _pick(
        self,
        stage: PlanStage,
        models: Sequence[Candidate],
        items: dict[str, Item],
        stage_cap: float | None,
        spent_before: float,
    ) -> dict[Candidate, list[str]]:
        """Each model's own items for an adaptive stage, by the rule the simulator applies (engine.stages):
        its ability from this plan's results so far, its items ordered by information per predicted dollar
        (those it ran, and those the history does not identify, never), as many whole items, in order, as
        its share of the stage's money buys at their worst-case costs."""
        model = self.plan.item_model
        if model is None:  # Plan refuses a picking stage without one
            raise ValueError(f"stage {stage.name!r} has no item_model to choose by")
        a, b, identified, predicted = model.arrays()
        values = self._plan_scores(models, model.item_ids)
        run = ~np.isnan(values)
        pool = set(stage.item_ids)
        usable = identified & np.array([item in items and item in pool for item in model.item_ids])
        keys = information_keys(a, b, abilities(a, b, values, run), predicted, run | ~usable)
        in_dollars = self.plan.cost_unit == "usd"

        def cost(candidate: Candidate, item_id: str) -> float:
            unit = Unit(stage.name, candidate, items[item_id], 0)
            return float(self.backend.worst_case_cost(unit)) if in_dollars else 1.0

        costs = np.array(
            [
                [cost(m, i) if i in items else predicted[j] for j, i in enumerate(model.item_ids)]
                for m in models
            ]
        )
        money = math.inf if stage_cap is None else max(stage_cap - spent_before, 0.0)
        allowance = stage_allowances(money, costs.mean(axis=1)) if models else np.zeros(0)
        picks: dict[Candidate, list[str]] = {}
        for k, candidate in enumerate(models):
            chosen, spent = [], 0.0
            for j in np.argsort(keys[k], kind="stable"):
                if not np.isfinite(keys[k, j]) or not within(spent + costs[k, j], float(allowance[k])):
                    break
                spent += costs[k, j]
                chosen.append(model.item_ids[j])
            picks[candidate] = chosen
        return picks

    async def _run_stage(
        self,
        stage: PlanStage,
        models: Sequence[Candidate],
        stage_items: Sequence[str],
        items: dict[str, Item],
        recorded: dict[tuple[str, str, str, int], float],
        progress: Progress,
        stage_cap: float | None,
        spent_before: float,
        picks: dict[Candidate, list[str]] | None = None,
    ) -> tuple[dict[str, object], list[str], float]:
        """Run one stage item by item, whole items only, within its cumulative budget ``stage_cap`` (in the
        plan's cost unit; ``spent_before`` of it went to earlier stages); returns its report, the items it
        ran, and the stages' spend after it. With ``picks`` (adaptive stages) each model runs its own items,
        the models taking turns; what each ran is left in ``self._ran_picks``."""
        stage_guard = SpendGuard(cap=stage_cap, spent=spent_before)
        semaphore = asyncio.Semaphore(self.concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        done_here = {"completed": 0, "failed": 0, "skipped": 0}
        in_dollars = self.plan.cost_unit == "usd"

        async def one(unit: Unit, reserved: float, stage_reserved: float) -> None:
            holding = True
            held = [reserved, stage_reserved]  # what this unit's current attempt holds of each cap
            unit_key = (unit.model, unit.scaffold, unit.item.item_id, unit.repeat)
            journal = [self._journal.reserve(unit_key, reserved)]  # written before the request goes

            def charge_worst_case(reason: str) -> None:
                """The attempt may be billed and its cost is unknown: spend its reservation, and keep the
                charge in the store so every later run of the plan counts it."""
                self.guard.settle(held[0], held[0])
                stage_guard.settle(held[1], held[1])
                self.unsettled += held[0]
                self._charge(
                    Charge(
                        run_id=self.run_id,
                        benchmark=self.plan.benchmark,
                        item_id=unit.item.item_id,
                        model=unit.model,
                        scaffold=unit.scaffold,
                        repeat=unit.repeat,
                        cost_usd=held[0],
                        reason=reason,
                        charged_at=datetime.now(UTC).replace(tzinfo=None),
                        attempt=self._journal.attempt(journal[0]),
                    ),
                    journal[0],
                )
                held[0] = held[1] = 0.0
                journal[0] = 0

            def retry_after_unknown(reason: str) -> bool:
                charge_worst_case(reason)
                # every retry reserves again, within the plan's cap and the stage's
                if not self.guard.try_reserve(reserved):
                    return False
                if not stage_guard.try_reserve(stage_reserved):
                    self.guard.release(reserved)
                    return False
                held[0], held[1] = reserved, stage_reserved
                journal[0] = self._journal.reserve(unit_key, reserved)  # before the retry goes
                return True

            try:
                self._requests += 1
                try:
                    result = await self.backend.run(unit, on_unknown=retry_after_unknown)
                finally:
                    self._requests -= 1
                    if not self._requests:
                        self._requests_out.set()
            except BackendError as exc:
                if str(exc) not in self.errors and len(self.errors) < 5:
                    self.errors.append(str(exc))
                if exc.unknown_outcome:
                    charge_worst_case(str(exc))
                else:
                    self.guard.release(held[0])
                    stage_guard.release(held[1])
                    self._journal.settled([journal[0]])  # never billed
                self.counts["failed"] += 1
                done_here["failed"] += 1
            else:
                actual = result.cost_usd or 0.0
                if actual > held[0] * (1 + 1e-9) + 1e-12 and in_dollars:
                    # recorded as reported; the provider went past the reservation, so nothing new starts
                    self.overrun += actual - held[0]
                    message = f"the provider reported ${actual:.6f} for a request reserved at ${held[0]:.6f}"
                    if len(self.errors) < 5:
                        self.errors.append(message)
                if result.cost_source == "worst-case":
                    self.unsettled += actual
                self.guard.settle(held[0], actual)
                stage_guard.settle(held[1], actual if in_dollars else 1.0)
                self._journal.answered(journal[0], actual)  # what a kill before the commit is charged
                # the request is over and its spend settled: its slot goes to the next request while the
                # rollout waits for its group commit (the task stays in flight until it is durable)
                semaphore.release()
                holding = False
                await self._record(unit, result, journal[0])
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

        model_major = getattr(self.backend, "model_major", False)
        width = max(1, int(getattr(self.backend, "engines_at_once", 1)))
        batch_now: list[tuple[str, ...]] = [()]
        """The models whose servers the units yielded now run on (model-major backends)."""

        def groups() -> Iterator[tuple[str | None, list[Unit]]]:
            """The units in the order they run, grouped by what must fit the stage's budget whole. A backend
            that serves models itself (model_major) runs them in batches of the servers it holds at once, the
            batch's models taking turns."""
            batches = (
                [models[i : i + width] for i in range(0, len(models), width)] if model_major else [models]
            )
            for batch in batches:
                if picks is not None:  # each model its own items, in turns
                    lists = [[Unit(stage.name, m, items[i], 0) for i in picks.get(m, [])] for m in batch]
                    longest = max((len(row) for row in lists), default=0)
                    units = [row[t] for t in range(longest) for row in lists if t < len(row)]
                elif model_major:
                    units = [
                        Unit(stage.name, model, items[item_id], repeat)
                        for item_id in stage_items
                        for repeat in range(stage.repeats)
                        for model in batch
                    ]
                else:
                    break
                # the servers the batch needs: those of its models with a unit not yet recorded
                batch_now[0] = tuple(dict.fromkeys(u.model for u in units if key(u) not in recorded))
                yield from ((None, [u]) for u in units)
            if picks is not None or model_major:
                return
            # item by item, every model on an item before the next: a stop leaves a comparable slice
            for item_id in stage_items:
                yield (
                    item_id,
                    [Unit(stage.name, m, items[item_id], r) for r in range(stage.repeats) for m in models],
                )

        def key(unit: Unit) -> tuple[str, str, str, int]:
            return (unit.model, unit.scaffold, unit.item.item_id, unit.repeat)

        ran: list[str] = []
        ran_picks: dict[Candidate, list[str]] = {}
        prepared: tuple[str, ...] = ()
        for item_id, group in groups():
            if self.cancelled:
                break
            pending = [u for u in group if key(u) not in recorded]
            if width > 1 and pending and batch_now[0] != prepared:  # a batch's servers start together
                prepared = batch_now[0]
                if not await self._prepare_batch(prepared, in_flight):
                    break
            already = sum(recorded[key(u)] for u in group if key(u) in recorded)
            worst = [self.backend.worst_case_cost(u) for u in pending]
            stage_worst = worst if in_dollars else [1.0] * len(pending)
            # the stage's rule (and the simulator's): an item runs only if all of it fits the stage's budget
            if not stage_guard.try_reserve(already + sum(stage_worst)):
                break
            stage_guard.settle(already, already)
            if item_id is not None:
                ran.append(item_id)
            skipped = len(group) - len(pending)
            self.counts["skipped"] += skipped
            done_here["skipped"] += skipped
            progress.done += skipped
            if not await self._start(pending, worst, stage_worst, stage_guard, semaphore, in_flight, one):
                break
            for unit in group if picks is not None else []:
                ran_picks.setdefault(unit.candidate, []).append(unit.item.item_id)
        if in_flight:
            await asyncio.gather(*in_flight)
        if model_major or picks is not None:
            ran = (
                list(stage_items)
                if picks is None
                else list(dict.fromkeys(i for v in ran_picks.values() for i in v))
            )
        self._ran_picks = None if picks is None else ran_picks
        self.stage_exhausted = stage_guard.exhausted
        report: dict[str, object] = {
            "stage": stage.name,
            "models": len(models),
            "model_names": [str(m) for m in models],
            "items": len(ran),
            **done_here,
        }
        return report, ran, stage_guard.spent

    async def _start(
        self,
        units: Sequence[Unit],
        worst: Sequence[float],
        stage_worst: Sequence[float],
        stage_guard: SpendGuard,
        semaphore: asyncio.Semaphore,
        in_flight: set[asyncio.Task[None]],
        one: Callable[[Unit, float, float], Coroutine[object, object, None]],
    ) -> bool:
        """Start ``units`` (their stage budget already reserved), each once the plan's cap can hold its worst
        case; False when the cap, a cancel or a failed server start stops the launch (what was not started
        goes back to the stage)."""
        for index, (unit, cost, stage_cost) in enumerate(zip(units, worst, stage_worst, strict=True)):
            await semaphore.acquire()
            stop = self.cancelled or self.overrun > 0
            if stop or not await self._prepare(unit, in_flight) or not self.guard.try_reserve(cost):
                semaphore.release()
                stage_guard.release(sum(stage_worst[index:]))
                return False
            self.counts["launched"] += 1
            task = asyncio.create_task(one(unit, cost, stage_cost))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        return True
