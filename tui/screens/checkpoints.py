"""Checkpoints: a training run's learning curve on a task, the checkpoints a budget buys, and the band the
rest of the curve is predicted within (from the store's other series), with the plan to save."""

from __future__ import annotations

import math
import re
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static

from evalbudget.engine.checkpoints import checkpoint_benchmarks, series_names
from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.paths import plans_dir
from evalbudget.engine.plan import format_plan
from evalbudget.engine.plan_checkpoints import CheckpointRequest, CheckpointView, checkpoint_view
from evalbudget.engine.prices import gpu_card, load_price_book
from evalbudget.engine.sim import Budget, parse_budget
from evalbudget.engine.sim.checkpoints import STRATEGIES
from evalbudget.pricing import GpuCard
from evalbudget.tui.chart import Chart
from evalbudget.tui.screens.base import ModeScreen
from evalbudget.tui.screens.plan import SteadyInput

GPU_TYPE = "H100"
DEBOUNCE_S = 0.3
DEFAULT_BENCHMARK = "lambada_openai"
HISTORY_COLOR = 244
RUN_COLOR = 33
PREDICTED_COLOR = 226
CHOSEN_COLOR = 196


class CheckpointsScreen(ModeScreen):
    MODE = "checkpoints"
    AUTO_FOCUS = "#series"
    BINDINGS = [
        Binding(
            "s", "save_plan", "Save plan", id="checkpoints.save", tooltip="Write the plan shown to a file"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: CheckpointView | None = None
        self.card: GpuCard | None = None
        """The GPU card costs are in (its price book is read in a worker, once)."""
        self.budget: Budget | None = parse_budget("20%")
        self.generation = 0
        """Bumped on every change of task, run, budget or strategy: only the latest plan is shown."""
        self.shown = 0
        """The generation of what is shown (a plan, or why there is none)."""
        self._debounce: Timer | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="checkpoint-controls"):
            yield Select[str]([], prompt="task", id="benchmark")
            yield Select[str]([], prompt="series (the run)", id="series")
            with Vertical(id="checkpoint-budget-box"):
                yield SteadyInput(value="20%", placeholder="20%, 0.01 gpu-h or $0.05", id="budget")
                yield Label("", id="budget-error")
        with Horizontal(id="checkpoint-row"):
            yield Select[str](
                [(f"{name} checkpoints", name) for name in STRATEGIES],
                value="history",
                allow_blank=False,
                compact=True,
                id="strategy",
                tooltip="How checkpoints are chosen: "
                + "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()),
            )
            yield Input(placeholder="save to: plans folder", id="save-path", compact=True)
        with Horizontal(id="checkpoint-main"):
            yield Chart(self.plot_figure, id="learning")
            yield Static("", id="checkpoint-plan")

    def on_mount(self) -> None:
        self.load_benchmarks()

    @work(thread=True, exclusive=True, exit_on_error=False, group="benchmark-list")
    def load_benchmarks(self) -> None:
        card = gpu_card(load_price_book(), GPU_TYPE)  # read once, off the screen's thread
        with self.shared_store.reading() as store:
            names = checkpoint_benchmarks(store.conn)
        self.app.call_from_thread(self.show_tasks, names, card)

    def show_tasks(self, names: list[str], card: GpuCard) -> None:
        self.card = card
        select = self.query_one("#benchmark", Select)
        select.set_options([(n, n) for n in names])
        if not names:
            self.query_one("#checkpoint-plan", Static).update(
                "The store holds no checkpoint series: ingest lm-eval results of a training run's checkpoints "
                "(their model_args name revision=stepN), or a table with series and step columns."
            )
            return
        select.value = DEFAULT_BENCHMARK if DEFAULT_BENCHMARK in names else names[0]

    @on(Select.Changed, "#benchmark")
    def _task_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.load_series(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="checkpoint-series")
    def load_series(self, benchmark: str) -> None:
        with self.shared_store.reading() as store:
            names = series_names(store.conn, benchmark)
        self.app.call_from_thread(self.show_series, names)

    def show_series(self, names: list[str]) -> None:
        select = self.query_one("#series", Select)
        current = select.value
        select.set_options([(n.rsplit("/", 1)[-1], n) for n in names])
        if isinstance(current, str) and current in names:
            select.value = current
        elif names:
            select.value = names[len(names) // 2]

    @on(Select.Changed, "#series")
    @on(Select.Changed, "#strategy")
    def _chosen(self) -> None:
        self._replan()

    @on(Input.Changed, "#budget")
    def _budget(self, event: Input.Changed) -> None:
        try:
            self.budget = parse_budget(event.value)
        except EvalbudgetError as exc:
            self.budget = None
            self.query_one("#budget-error", Label).update(f"[red]{exc}[/]")
            return
        self.query_one("#budget-error", Label).update("")
        self._replan()

    def _request(self) -> CheckpointRequest | None:
        benchmark = self.query_one("#benchmark", Select).value
        series = self.query_one("#series", Select).value
        strategy = self.query_one("#strategy", Select).value
        if not (isinstance(benchmark, str) and isinstance(series, str) and isinstance(strategy, str)):
            return None
        if self.budget is None or self.card is None:
            return None
        return CheckpointRequest(
            series=series,
            benchmark=benchmark,
            budget=self.budget,
            card=self.card,
            strategy=strategy,
        )

    def _replan(self) -> None:
        """Plan again once typing pauses (a plan simulates the history, which takes a moment)."""
        if self._debounce is not None:
            self._debounce.stop()
        request = self._request()
        if request is None:
            return
        self.generation += 1
        generation = self.generation
        self._debounce = self.set_timer(DEBOUNCE_S, lambda: self._start(request, generation))

    def _start(self, request: CheckpointRequest, generation: int) -> None:
        self.query_one("#checkpoint-plan", Static).loading = True
        self.plan_view(request, generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="checkpoint-plan")
    def plan_view(self, request: CheckpointRequest, generation: int) -> None:
        try:
            with self.shared_store.reading() as store:
                view = checkpoint_view(store.conn, request)
        except EvalbudgetError as exc:
            self.app.call_from_thread(self.show_failure, str(exc), generation)
            return
        self.app.call_from_thread(self.show_view, view, generation)

    def worker_failed(self, message: str) -> None:
        self.query_one("#checkpoint-plan", Static).loading = False

    def show_failure(self, message: str, generation: int) -> None:
        if generation == self.generation:
            self.view, self.shown = None, generation
            side = self.query_one("#checkpoint-plan", Static)
            side.loading = False
            side.update(f"[red]{message}[/]")
            self.query_one("#learning", Chart).refresh()

    def show_view(self, view: CheckpointView, generation: int) -> None:
        if generation != self.generation:  # the task, run, budget or strategy changed meanwhile
            return
        self.view, self.shown = view, generation
        side = self.query_one("#checkpoint-plan", Static)
        side.loading = False
        side.update(_summary(view) + "\n[dim]press s to save this plan[/]")
        self.query_one("#learning", Chart).refresh()

    def plot_figure(self, plot: Chart) -> None:
        view = self.view
        if view is None or view.plan.checkpoints is None:
            return
        chosen = view.plan.checkpoints
        plt = plot.plt
        plt.title(f"{view.data.benchmark}: {chosen.series.rsplit('/', 1)[-1]} (grey: the other series)")
        plt.xlabel("step + 1 (log)")
        plt.xscale("log")
        plt.ylabel("score")
        for curve in view.data.curves:
            if curve.series != chosen.series:
                plt.plot(
                    (curve.steps + 1).tolist(), curve.scores.tolist(), marker="braille", color=HISTORY_COLOR
                )
        run = next((c for c in view.data.curves if c.series == chosen.series), None)
        if run is not None:
            steps = (run.steps + 1).tolist()
            plt.plot(steps, run.scores.tolist(), marker="braille", color=RUN_COLOR, label="real")
            if view.predicted is not None:
                band = chosen.curve_mae_p95
                plt.plot(
                    steps, view.predicted.tolist(), marker="braille", color=PREDICTED_COLOR, label="predicted"
                )
                plt.plot(steps, (view.predicted + band).tolist(), marker="dot", color=PREDICTED_COLOR)
                plt.plot(steps, (view.predicted - band).tolist(), marker="dot", color=PREDICTED_COLOR)
            marks = [i for i, s in enumerate(run.steps) if int(s) in set(chosen.chosen_steps)]
            plt.scatter(
                [steps[i] for i in marks],
                [float(run.scores[i]) for i in marks],
                marker="x",
                color=CHOSEN_COLOR,
            )
        else:
            low = min(float(c.scores.min()) for c in view.data.curves)
            plt.scatter(
                [s + 1 for s in chosen.chosen_steps],
                [low] * len(chosen.chosen_steps),
                marker="x",
                color=CHOSEN_COLOR,
            )

    def action_save_plan(self) -> None:
        view = self.view
        if view is None or view.plan.checkpoints is None:
            self.notify("Choose a task, a run and a valid budget first.", severity="warning")
            return
        where = self.query_one("#save-path", Input).value.strip()
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", view.plan.checkpoints.series.rsplit("/", 1)[-1])
        path = (
            Path(where).expanduser()
            if where
            else plans_dir() / f"checkpoints-{slug}-{view.plan.benchmark}.json"
        )
        self.save(view, path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="checkpoint-save")
    def save(self, view: CheckpointView, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(view.plan.model_dump_json(indent=2) + "\n")
        self.app.call_from_thread(self.saved, path)

    def saved(self, path: Path) -> None:
        self.app.last_plan_path = path  # type: ignore[attr-defined]
        self.app.saved_plans.append(path)  # type: ignore[attr-defined]
        if self.view is not None:
            self.query_one("#checkpoint-plan", Static).update(_summary(self.view) + f"\n[b]saved[/b] {path}")
        self.notify(f"Saved the plan to {path}; open Launch (5) to run it.")


def _summary(view: CheckpointView) -> str:
    """The plan as `checkpoints plan` prints it, less its stage line; the marks on the chart are its steps."""
    text = format_plan(view.plan)
    lines = [line for line in text.splitlines() if not line.startswith("stage ")]
    real = next(
        (c for c in view.data.curves if view.plan.checkpoints and c.series == view.plan.checkpoints.series),
        None,
    )
    if real is not None and view.dry_run_mae is not None and math.isfinite(view.dry_run_mae):
        fraction = view.plan.checkpoints.items_fraction if view.plan.checkpoints else 1.0
        drawn = "every item" if fraction >= 1.0 else f"{fraction:.0%} of the items drawn as a launch would"
        lines.append(
            f"this run's own curve: predicted within MAE {view.dry_run_mae:.4f} (a dry run on its recorded "
            f"scores, {drawn})"
        )
    return "\n".join(lines)
