"""Explore: the store at a glance, its benchmarks, and a chosen benchmark's models."""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from evalbudget.engine.frontier import Frontier, frontier, interval_text, money_text
from evalbudget.engine.info import StoreInfo, store_info
from evalbudget.engine.store import schema_version
from evalbudget.tui.screens.base import ModeScreen
from evalbudget.tui.screens.results import ResultsScreen
from evalbudget.tui.screens.runs import RunsScreen
from evalbudget.tui.table import replace_rows


class ExploreScreen(ModeScreen):
    MODE = "explore"
    AUTO_FOCUS = "#benchmarks"
    BINDINGS = [
        Binding("r", "reload", "Reload", id="explore.reload", tooltip="Read the store again"),
        Binding("slash", "filter", "Filter", id="explore.filter", tooltip="Filter the benchmarks"),
        Binding(
            "o", "open_results", "Results", id="explore.results", tooltip="Open a launched plan's results"
        ),
        Binding(
            "u", "open_runs", "Runs", id="explore.runs", tooltip="Runs: exclude from the history, delete"
        ),
    ]

    def action_open_runs(self) -> None:
        self.app.push_screen(RunsScreen(), lambda _: self.action_reload())

    def action_open_results(self) -> None:
        saved = getattr(self.app, "last_plan_path", None)
        self.app.push_screen(ResultsScreen(str(saved) if saved else ""))

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def __init__(self) -> None:
        super().__init__()
        self.info: StoreInfo | None = None
        self.selected: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Reading the store…", id="summary")
        yield Input(placeholder="filter benchmarks (e.g. swe)", id="filter")
        with Horizontal(id="explore-tables"):
            yield DataTable(id="benchmarks", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="models", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        benchmarks = self.query_one("#benchmarks", DataTable)
        # long task names (hendrycksTest-high_school_...) are cut, so the model count shows at 80 columns
        benchmarks.add_column("benchmark", width=20)
        benchmarks.add_columns("models", "items", "rollouts", "known cost $", "unpriced", "aggregate runs")
        # accuracy and cost first after the name, so they show without scrolling sideways at 80 columns
        models = self.query_one("#models", DataTable)
        models.add_column("model", width=20)
        models.add_columns("acc", "$/item", "95% interval")
        models.add_column("scaffold", width=12)  # both sized to the room the others leave (_fit_models)
        self.action_reload()

    def on_screen_resume(self) -> None:
        """Coming back to Explore reads the store again: a launch or an ingest may have added to it."""
        if self.info is not None:
            self.action_reload()

    def action_reload(self) -> None:
        self.load_info()
        if self.selected is not None:  # the models of the benchmark shown, as the history now has them
            self.load_models(self.selected)

    @work(thread=True, exclusive=True, exit_on_error=False, group="explore-info")
    def load_info(self) -> None:
        with self.shared_store.reading() as store:
            info = store_info(store.conn, str(store.path), schema_version(store.conn))
        self.app.call_from_thread(self.show_info, info)

    def show_info(self, info: StoreInfo) -> None:
        self.info = info
        self.query_one("#summary", Static).update(
            f"[b]{info.store}[/b] · {info.scaffolds:,} scaffolds\n"
            f"{info.rollouts:,} rollouts · {info.runs:,} runs · {info.models:,} models · "
            f"{info.benchmarks:,} benchmarks · {info.items:,} items\n"
            f"known cost ${info.cost_usd:,.2f} · {info.unpriced_rollouts:,} unpriced · "
            f"{info.aggregate_runs:,} aggregate runs ${info.aggregate_cost_usd:,.2f}"
        )
        self.fill_benchmarks()

    def fill_benchmarks(self) -> None:
        if self.info is None:
            return
        needle = self.query_one("#filter", Input).value.strip().lower()
        shown = [row for row in self.info.by_benchmark if not needle or needle in row.benchmark.lower()]
        replace_rows(
            self.query_one("#benchmarks", DataTable),
            (
                (
                    row.benchmark,
                    row.models,
                    row.items,
                    f"{row.rollouts:,}",
                    "unknown" if row.cost_usd is None else f"{row.cost_usd:,.2f}",
                    f"{row.unpriced_rollouts:,}",
                    row.aggregate_runs,
                )
                for row in shown
            ),
            keys=[row.benchmark for row in shown],
        )
        names = [row.benchmark for row in shown]
        if self.selected in names:  # a reload keeps the benchmark the user was on
            self.query_one("#benchmarks", DataTable).move_cursor(row=names.index(self.selected))

    @on(Input.Changed, "#filter")
    def _filter(self) -> None:
        self.fill_benchmarks()

    @on(DataTable.RowHighlighted, "#benchmarks")
    def _benchmark_chosen(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and event.row_key.value != self.selected:
            self.selected = str(event.row_key.value)
            self.load_models(self.selected)

    @work(thread=True, exclusive=True, exit_on_error=False, group="explore-models")
    def load_models(self, benchmark: str) -> None:
        with self.shared_store.reading() as store:
            result = frontier(store.conn, benchmark)
        self.app.call_from_thread(self.show_models, result)

    def show_models(self, result: Frontier) -> None:
        replace_rows(
            self.query_one("#models", DataTable),
            (
                (
                    p.model,
                    f"{p.accuracy:.3f}",
                    money_text(result, p),
                    interval_text(p),
                    p.scaffold,
                )
                for p in sorted(result.points, key=lambda p: -p.accuracy)
            ),
            labels=["model", "acc", result.cost_label, "95% interval", "scaffold"],
        )
        self._fit_models()

    NAME_MIN_WIDTH = 12
    SCAFFOLD_MIN_WIDTH = 8

    def on_resize(self, event: events.Resize) -> None:
        # (Textual runs ModeScreen's handler too: it walks the class hierarchy)
        self.call_after_refresh(self._fit_models)

    def _fit_models(self) -> None:
        """Accuracy, cost and interval show whole; the model and scaffold columns share the room they leave
        (the model first, as long as its longest name needs)."""
        table = self.query_one("#models", DataTable)
        columns = table.ordered_columns
        if len(columns) < 5 or not table.size.width:
            return
        fixed = sum(c.get_render_width(table) for c in columns[1:4])
        room = table.size.width - fixed - 4 * table.cell_padding - 2  # two flexible columns and a scrollbar
        longest = max(
            (len(str(row[0])) for row in (table.get_row_at(i) for i in range(table.row_count))), default=0
        )
        model = max(self.NAME_MIN_WIDTH, min(longest, room - self.SCAFFOLD_MIN_WIDTH))
        scaffold = max(self.SCAFFOLD_MIN_WIDTH, room - model)
        if (columns[0].width, columns[4].width) != (model, scaffold):
            columns[0].width, columns[4].width = model, scaffold
            table.refresh(layout=True)
