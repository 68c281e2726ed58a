"""Plan: a budget in $, GPU-hours or %, every strategy's fidelity against cost, and the recommended plan."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Select, Static

from evalbudget.engine.candidates import typed_names
from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.info import benchmark_names
from evalbudget.engine.paths import plans_dir
from evalbudget.engine.plan import Plan, format_plan
from evalbudget.engine.plan_costs import has_token_counts
from evalbudget.engine.plan_request import PlanRequest, plan_benchmark
from evalbudget.engine.prices import load_price_book
from evalbudget.engine.sim import (
    BenchmarkData,
    Budget,
    SimulationReport,
    load_benchmark,
    parse_budget,
    simulate,
)
from evalbudget.engine.sim.budget import budget_units
from evalbudget.engine.sim.simulate import default_holdout
from evalbudget.engine.sim.strategies import REGISTRY
from evalbudget.pricing import PriceBook
from evalbudget.tui.chart import Chart
from evalbudget.tui.screens.base import ModeScreen
from evalbudget.tui.screens.candidates import CandidatePicker, Picked
from evalbudget.tui.screens.plans import PlansScreen
from evalbudget.tui.table import replace_rows

CURVE_SHARES = (1, 2, 5, 10, 20, 40, 70, 100)
CURVE_REPLICATES = 60
TABLE_REPLICATES = 100
TABLE_DEBOUNCE_S = 0.3
CURVE_COLORS = (33, 40, 201, 51, 226, 208, 141, 250, 118, 213, 37, 180, 196)
"""256-colour indexes of the strategies' curves, in registry order; the table beside the chart names each
strategy in its curve's colour (the legend), so no legend covers the curves."""


def curve_color(strategy: str) -> int:
    names = [*REGISTRY, "repeats:1", "repeats:2", "repeats:4"]
    index = names.index(strategy) if strategy in names else len(names)
    return CURVE_COLORS[index % len(CURVE_COLORS)]


class SteadyInput(Input):
    """An input whose virtual width is at least its visible width: Textual relays the whole screen out when an
    input's virtual width changes, which it otherwise does on every keystroke (and a relayout costs the Plan
    chart an extra repaint per budget edit)."""

    @property
    def content_width(self) -> int:
        return max(super().content_width, self.scrollable_content_region.width)


class PlanScreen(ModeScreen):
    MODE = "plan"
    AUTO_FOCUS = "#strategies"
    BINDINGS = [
        Binding(
            "c", "pick_candidates", "Candidates", id="plan.candidates", tooltip="Choose the models to rank"
        ),
        Binding("s", "save_plan", "Save plan", id="plan.save", tooltip="Write the plan shown to a file"),
        Binding("p", "browse_plans", "Plans", id="plan.plans", tooltip="Saved plans; enter launches one"),
    ]

    def action_browse_plans(self) -> None:
        self.app.push_screen(PlansScreen(list(getattr(self.app, "saved_plans", []))), self._plan_chosen)

    def _plan_chosen(self, path: Path | None) -> None:
        if path is not None:
            self.app.last_plan_path = path  # type: ignore[attr-defined]
            self.app.switch_mode("launch")

    def __init__(self) -> None:
        super().__init__()
        self.data: BenchmarkData | None = None
        self.curves: SimulationReport | None = None
        self.at_budget: SimulationReport | None = None
        self.budget: Budget | None = parse_budget("10%")
        self.plan: Plan | None = None
        self.benchmark: str | None = None
        self.saved_path: Path | None = None
        self.gpu_type: str | None = None
        """The GPU a budget in GPU-hours is in (the chooser beside the budget)."""
        self.split = "auto"
        """How fidelity is simulated (the split chooser): auto (plan_request.split_for), or random, strongest
        or newest held out."""
        self.objective = "ranking"
        self.book: PriceBook | None = None
        self.cost_like: str | None = None
        """The stored model new candidates cost like, where the benchmark has no token counts (the picker)."""
        self.has_tokens = True
        self._version = 0
        """The app's history version the curves shown were simulated at."""
        self._budget_error = ""
        self._debounce: Timer | None = None
        self.generation = 0
        """Bumped on every new budget or benchmark: only the latest simulation's table is shown."""

    ITEMS_ONLY_BENCHMARKS = True

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="plan-controls"):
            yield Select[str]([], prompt="benchmark", id="benchmark")
            yield Select[str]([], prompt="GPU (gpu-h)", id="gpu-type")
            with Vertical(id="budget-box"):
                yield SteadyInput(value="10%", placeholder="$50, 12 gpu-h or 5%", id="budget")
                yield Label("", id="budget-error")
        with Horizontal(id="plan-save-row"):
            yield Input(placeholder="candidates (c picks)", id="candidates", compact=True)
            yield Input(placeholder="save to: plans folder", id="save-path", compact=True)
            yield Select[str](
                [
                    ("auto split", "auto"),
                    ("random split", "random"),
                    ("strongest split", "strongest"),
                    ("newest split", "newest"),
                ],
                allow_blank=False,
                value="auto",
                compact=True,
                id="split",
                tooltip="How fidelity is simulated: history models held out at random, the strongest held out "
                "(the candidates are new models stronger than the store's), or the newest (by release date); "
                "auto: random for models the store holds, strongest for new ones",
            )
            yield Select[str](
                [
                    ("rank all", "ranking"),
                    ("find the best", "top1"),
                    ("scores", "scores"),
                    ("tell 2 pts apart", "separate:0.02"),
                    ("tell 5 pts apart", "separate:0.05"),
                ],
                allow_blank=False,
                value="ranking",
                compact=True,
                id="objective",
                tooltip="What the plan is best at: the whole ranking (tau), the winner (top-1), each score (MAE), "
                "or ordering right the models at least 2 (or 5) points apart",
            )
        with Horizontal(id="plan-main"):
            yield Chart(self.plot_figure, id="curves")
            with Vertical(id="plan-side"):
                yield DataTable(id="strategies", cursor_type="row", zebra_stripes=True)
                yield Static("", id="recommendation")

    def on_mount(self) -> None:
        self.query_one("#strategies", DataTable).add_columns("strategy", "tau", "p05", "top1", "MAE", "cost")
        self.load_benchmarks()
        self.load_gpus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan-gpus")
    def load_gpus(self) -> None:
        """The GPU cards a budget in GPU-hours can be in (the price book's)."""
        book = load_price_book()
        self.app.call_from_thread(self.show_gpus, book)

    def show_gpus(self, book: PriceBook) -> None:
        self.book = book
        select = self.query_one("#gpu-type", Select)
        select.set_options([(name, name) for name in sorted(book.gpus)])
        if "H100" in book.gpus:
            select.value = "H100"

    @on(Select.Changed, "#gpu-type")
    def _gpu(self, event: Select.Changed) -> None:
        self.gpu_type = event.value if isinstance(event.value, str) else None
        if self.budget is not None and self.budget.kind == "gpu_h":
            self.plan = None
            self.draw()
            self._replan()

    @on(Select.Changed, "#benchmark")
    def _benchmark(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.plan = None
            self.cost_like = None
            self._load(event.value)

    def _load(self, benchmark: str) -> None:
        """Simulate ``benchmark`` afresh; what shows meanwhile says it is being made."""
        self._version = self.history_version
        self.query_one("#curves", Chart).loading = True
        self.query_one("#strategies", DataTable).loading = True
        self.query_one("#recommendation", Static).update(f"simulating {benchmark}…")
        self.load_curves(benchmark)

    def on_screen_resume(self) -> None:
        """A run excluded or deleted since this benchmark was simulated: simulate it again."""
        benchmark = self.query_one("#benchmark", Select).value
        if self.history_version != self._version and isinstance(benchmark, str):
            self.plan = None
            self._load(benchmark)

    @on(Input.Changed, "#budget")
    def _budget(self, event: Input.Changed) -> None:
        try:
            self.budget = parse_budget(event.value)
        except EvalbudgetError as exc:
            self.budget = None
            self._show_budget_error(f"[red]{exc}[/]")
            self.query_one("#plan-side").set_class(True, "stale")  # what shows is not for this budget
            return
        self._show_budget_error("")
        self.query_one("#plan-side").set_class(False, "stale")
        self.plan = None
        self.draw()
        # the table's simulation waits until typing pauses, so the chart repaints at once
        if self._debounce is not None:
            self._debounce.stop()
        self._replan()

    @on(Input.Changed, "#candidates")
    def _candidates(self) -> None:
        self.plan = None
        self._replan()

    @on(Select.Changed, "#objective")
    def _objective(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.objective:
            self.objective = event.value
            self.plan = None
            self._replan()

    @on(Select.Changed, "#split")
    def _split(self, event: Select.Changed) -> None:
        """Another split: the curves are simulated again with it, then the plan."""
        benchmark = self.query_one("#benchmark", Select).value
        if isinstance(event.value, str) and event.value != self.split:
            self.split = event.value
            self.plan = None
            if isinstance(benchmark, str):
                self._load(benchmark)

    def _replan(self) -> None:
        """Plan again for the budget and candidates as they are now, once typing pauses: the table, the
        recommendation and what `s` saves are that one plan."""
        if self._debounce is not None:
            self._debounce.stop()
        if self.data is not None and self.budget is not None:
            self.generation += 1
            data, request, generation = self.data, self._request(), self.generation
            self._debounce = self.set_timer(
                TABLE_DEBOUNCE_S, lambda: self._plan_table(data, request, generation)
            )

    def _plan_table(self, data: BenchmarkData, request: PlanRequest, generation: int) -> None:
        # the table shows it is loading only once typing pauses: mounting the indicator relays the screen
        # out, which would slow every keystroke's chart redraw
        self.query_one("#strategies", DataTable).loading = True
        self.plan_at_budget(data, request, generation)

    def _request(self) -> PlanRequest:
        assert self.benchmark is not None and self.budget is not None
        names = [c.strip() for c in self.query_one("#candidates", Input).value.split(",") if c.strip()]
        return PlanRequest(
            benchmark=self.benchmark,
            budget=self.budget,
            candidates=list(dict.fromkeys(names)) or None,
            cost_like=self.cost_like,
            gpu_type=self.gpu_type,
            objective=self.objective.split(":")[0],
            difference=float(self.objective.split(":")[1]) if ":" in self.objective else None,
            split=self.split,
            replicates=TABLE_REPLICATES,
        )

    def action_pick_candidates(self) -> None:
        if self.data is None or self.benchmark is None:
            self.notify(
                "Choose a benchmark with results first: the picker lists its models.", severity="warning"
            )
            return
        field = self.query_one("#candidates", Input)
        chosen = [c.strip() for c in field.value.split(",") if c.strip()]
        picker = CandidatePicker(
            self.benchmark,
            typed_names(self.data.candidates),
            chosen,
            self.cost_like,
            needs_cost_like=not self.has_tokens,
        )
        self.app.push_screen(picker, self._picked)

    def _picked(self, picked: Picked | None) -> None:
        if picked is None:
            return
        self.cost_like = picked.cost_like
        field = self.query_one("#candidates", Input)
        text = ", ".join(picked.names)
        if field.value != text:
            field.value = text  # plans again (Input.Changed)
        else:
            self.plan = None
            self._replan()

    def _show_budget_error(self, text: str) -> None:
        # only a change: an update relays the whole screen out, which would slow every keystroke's redraw
        if text != self._budget_error:
            self._budget_error = text
            self.query_one("#budget-error", Label).update(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan-curves")
    def load_curves(self, benchmark: str) -> None:
        with self.shared_store.reading() as store:
            if benchmark not in benchmark_names(store.conn):
                self.app.call_from_thread(self.show_cold, benchmark)
                return
            data = load_benchmark(store.conn, benchmark)
            self.has_tokens = has_token_counts(store.conn, benchmark)
        holdout = default_holdout(data.n_candidates)
        curves = simulate(
            data,
            strategies=["all"],
            budgets=[parse_budget(f"{s}%") for s in CURVE_SHARES],
            holdout=holdout,
            # the curves are the store's own models: auto is random for them
            split=self.split if holdout is not None and self.split != "auto" else "random",
            replicates=CURVE_REPLICATES,
            seed=0,
        )
        self.app.call_from_thread(self.show_curves, data, curves)

    def _loaded(self) -> None:
        self.query_one("#curves", Chart).loading = False
        self.query_one("#strategies", DataTable).loading = False

    def worker_failed(self, message: str) -> None:
        self._loaded()
        self.query_one("#recommendation", Static).update(f"[red]{message}[/]")

    def show_cold(self, benchmark: str) -> None:
        """A benchmark with items but no results: nothing to simulate, but a worst-case plan can be saved."""
        self._loaded()
        self.data, self.curves, self.benchmark = None, None, benchmark
        self.query_one("#strategies", DataTable).clear()
        self.draw()
        self.query_one("#recommendation", Static).update(
            f"{benchmark} has items but no results yet, so nothing to simulate: s saves a plan (full, or random "
            "items) at the launcher's worst-case cost for the candidates named above."
        )

    def show_curves(self, data: BenchmarkData, curves: SimulationReport) -> None:
        self.query_one("#curves", Chart).loading = False
        self.query_one("#recommendation", Static).update("planning at this budget…")
        self.benchmark = data.benchmark
        self.data, self.curves = data, curves
        self.draw()
        if self.budget is not None:
            self.generation += 1
            self.plan_at_budget(data, self._request(), self.generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan-budget")
    def plan_at_budget(self, data: BenchmarkData, request: PlanRequest, generation: int) -> None:
        """The plan `evalbudget plan` would write for this request: its strategy, slice, predicted cost and
        fidelity, and the alternatives it was chosen from."""
        try:
            with self.shared_store.reading() as store:
                plan = plan_benchmark(store.conn, request, load_price_book(), data=data)
        except EvalbudgetError as exc:
            self.app.call_from_thread(self.show_no_plan, str(exc), generation)
            return
        self.app.call_from_thread(self.show_at_budget, plan, generation)

    def show_no_plan(self, message: str, generation: int) -> None:
        if generation == self.generation:
            self._loaded()
            self.plan = None
            self.query_one("#strategies", DataTable).clear()
            self.query_one("#recommendation", Static).update(f"[red]{message}[/]")

    def show_at_budget(self, plan: Plan, generation: int) -> None:
        if generation != self.generation:  # the budget, candidates or benchmark changed meanwhile: stale
            return
        self._loaded()
        self.plan = plan
        unit = "$" if plan.cost_unit == "usd" else ""
        replace_rows(
            self.query_one("#strategies", DataTable),
            (
                (
                    Text(a.strategy, style=f"color({curve_color(a.strategy)})"),
                    f"{a.kendall_tau_mean:.3f}",
                    "" if a.kendall_tau_p05 is None else f"{a.kendall_tau_p05:.3f}",
                    f"{a.top1_recovery:.2f}",
                    f"{a.mae:.3f}",
                    f"{unit}{a.cost_mean:,.0f}",
                )
                for a in plan.alternatives
            ),
        )
        cost = plan.predicted_cost
        tau = plan.predicted_fidelity.kendall_tau if plan.predicted_fidelity else None
        self.query_one("#recommendation", Static).update(
            f"[b]plan:[/b] {plan.strategy} for {len(plan.candidates)} candidates at {plan.budget}"
            + (f": tau {tau.mean:.3f} (90%: {tau.p05:.3f}-{tau.p95:.3f})" if tau else "")
            + (f", cost {unit}{cost.mean:,.2f} predicted" if cost else "")
            + _objective_line(plan)
            + "".join(f"\n[dim]{note}[/]" for note in plan.cost_notes)
            + "\npress s to save this plan"
        )

    def draw(self) -> None:
        self.query_one("#curves", Chart).refresh()

    def plot_figure(self, plot: Chart) -> None:
        if self.curves is None:
            return
        plt = plot.plt
        unit = "$" if self.curves.cost_unit == "usd" else "rollouts"
        split = "" if self.curves.holdout_split == "random" else f", {self.curves.holdout_split} held out"
        plt.title(f"{self.curves.benchmark}: Kendall tau vs cost{split} (colours as in the table)")
        plt.xlabel(f"cost ({unit}, log)")
        plt.xscale("log")
        plt.ylabel("mean tau")
        strategies = dict.fromkeys(r.strategy for r in self.curves.results)
        for name in strategies:
            points = [
                (r.cost_usd.mean, r.kendall_tau.mean) for r in self.curves.results if r.strategy == name
            ]
            points = [(c, t) for c, t in points if t == t]  # drop NaN
            if points:
                plt.plot(
                    [c for c, _ in points], [t for _, t in points], marker="braille", color=curve_color(name)
                )
        if self.budget is not None and self.curves.results:
            try:
                full = (
                    self.curves.full_cost_usd
                    if self.curves.cost_unit == "usd"
                    else float(self.curves.models * self.curves.items)
                )
                share = self.curves.candidates_per_replicate / max(self.curves.models, 1)
                gpu = self.book.gpus.get(self.gpu_type) if self.book and self.gpu_type else None
                line = budget_units(
                    self.budget, (full or 0.0) * share, has_cost=self.curves.cost_unit == "usd", gpu=gpu
                )
                plt.vline(line, color="red")
            except EvalbudgetError:
                pass

    def action_save_plan(self) -> None:
        benchmark = self.benchmark
        if benchmark is None or self.budget is None:
            self.notify("Choose a benchmark and a valid budget first.", severity="warning")
            return
        if self.data is not None and self.plan is None:
            self.notify(
                "The plan for this budget is still being made; save it once it shows.", severity="warning"
            )
            return
        where = self.query_one("#save-path", Input).value.strip()
        path = Path(where).expanduser() if where else plans_dir() / f"plan-{benchmark}.json"
        self.save_plan(self._request(), self.data, path, self.plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan-save")
    def save_plan(
        self, request: PlanRequest, data: BenchmarkData | None, path: Path, shown: Plan | None
    ) -> None:
        """Write the plan on screen (the one the table and the recommendation describe); a benchmark with items
        but no results has none on screen, so its worst-case plan is made here."""
        plan = shown
        if plan is None:
            with self.shared_store.reading() as store:
                plan = plan_benchmark(store.conn, request, load_price_book(), data=data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(plan.model_dump_json(indent=2) + "\n")
        self.app.call_from_thread(self.plan_saved, plan, path)

    def plan_saved(self, plan: Plan, path: Path) -> None:
        self.plan, self.saved_path = plan, path
        self.app.last_plan_path = path  # type: ignore[attr-defined]
        self.app.saved_plans.append(path)  # type: ignore[attr-defined]
        self.query_one("#recommendation", Static).update(
            format_plan(plan).split("\n\n")[0] + f"\n[b]saved[/b] {path}"
        )
        self.notify(f"Saved the plan to {path}; open Launch (5) to run it.")


def _objective_line(plan: Plan) -> str:
    """What the plan's objective predicts, beside its tau: top-1 recovery, or the pairs told apart."""
    fidelity = plan.predicted_fidelity
    if fidelity is None:
        return ""
    if plan.objective == "top1":
        return f"; finds the best {fidelity.top1_recovery:.0%} of the time"
    if fidelity.separated is not None and fidelity.difference is not None:
        return f"; pairs at least {fidelity.difference:g} apart ordered right: {fidelity.separated:.1%}"
    return ""
