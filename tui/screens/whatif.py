"""What-if: edit prices, discounts, cache hits and per-rollout caps; baseline vs scenario cost and accuracy."""

from __future__ import annotations

from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, Select, Static

from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.prices import load_price_book
from evalbudget.engine.whatif import WhatIfReport, model_names, run_whatif
from evalbudget.pricing import PricingError, Scenario, load_scenario, parse_gpu_flag, parse_price_flag
from evalbudget.tui.chart import Chart
from evalbudget.tui.screens.base import ModeScreen
from evalbudget.tui.table import replace_rows

CHART_ROWS = 6
"""Rows the bar chart shows at most: the costliest by baseline; the table below holds them all."""
CHART_FRAME_LINES = 5
"""The chart's lines that are not bars: title, axes, tick labels."""

FIELDS = (
    ("price", "price overrides: MODEL=IN/OUT; ... ($/Mtok)"),
    ("batch_discount", "batch discount (0-1)"),
    ("cache_hit_rate", "cache-hit rate (0-1)"),
    ("cost_cap_usd", "per-rollout cost cap ($)"),
    ("token_cap", "per-rollout token cap"),
    ("gpu", "GPU rate: TYPE=$/h"),
)


LABELS = {name: hint.split(" (")[0] for name, hint in FIELDS}
"""Each field as a sentence names it: its hint without the units (``batch discount``)."""


class WhatIfScreen(ModeScreen):
    MODE = "whatif"
    AUTO_FOCUS = "#rows"

    def __init__(self) -> None:
        super().__init__()
        self.report: WhatIfReport | None = None
        self.generation = 0
        """Bumped on every change: a worker's result shows only if nothing changed since it started."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="whatif-main"):
            with VerticalScroll(id="whatif-form"):
                yield Select[str]([], prompt="benchmark", id="benchmark")
                yield Select[str]([], prompt="pick a model to price", id="price-model")
                for name, hint in FIELDS:
                    # the price field is added to by the model picker: focusing it must not select its text
                    yield Input(placeholder=hint, id=name, select_on_focus=name != "price", compact=True)
                yield Label("", id="scenario-error")
                yield Static("", id="scenario-notes")
            with Vertical(id="whatif-results"):
                yield Chart(self.plot_figure, id="bars")
                yield DataTable(id="rows", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#rows", DataTable).add_columns(
            "model", "base $", "scen $", "base acc", "scen acc", "capped"
        )
        self.load_benchmarks()

    def scenario(self) -> Scenario:
        """The form as a scenario; a bad field is one sentence that names it as the form does."""
        values = {name: self.query_one(f"#{name}", Input).value.strip() for name, _ in FIELDS}
        flags: dict[str, Any] = {}
        if values["price"]:
            entries = [e.strip() for e in values["price"].split(";") if e.strip()]
            flags["prices"] = dict(parse_price_flag(e, "The price override") for e in entries)
        if values["gpu"]:
            flags["gpu_rates"] = dict([parse_gpu_flag(values["gpu"], "The GPU rate")])
        for name in ("batch_discount", "cache_hit_rate", "cost_cap_usd", "token_cap"):
            if not values[name]:
                continue
            try:
                flags[name] = int(values[name]) if name == "token_cap" else float(values[name])
            except ValueError:
                kind = "a whole number" if name == "token_cap" else "a number"
                raise PricingError(f"The {LABELS[name]} must be {kind}, not {values[name]!r}.") from None
        try:
            return load_scenario(None, **flags)
        except PricingError as exc:
            message = str(exc).removeprefix("scenario: ").replace(" input should", " should")
            for name, label in LABELS.items():
                message = message.replace(f"field '{name}'", f"the {label}")
            raise PricingError(message[:1].upper() + message[1:]) from None

    @on(Select.Changed, "#benchmark")
    def _benchmark(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.load_models(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="whatif-models")
    def load_models(self, benchmark: str) -> None:
        with self.shared_store.reading() as store:
            models = model_names(store.conn, benchmark)
        self.app.call_from_thread(self.show_models, models)

    def show_models(self, models: list[str]) -> None:
        self.query_one("#price-model", Select).set_options([(m, m) for m in models])

    @on(Select.Changed, "#price-model")
    def _price_model(self, event: Select.Changed) -> None:
        """A model picked is written into the price overrides, ready for its prices."""
        if not isinstance(event.value, str):
            return
        field = self.query_one("#price", Input)
        entries = [e.strip() for e in field.value.split(";") if e.strip()]
        field.value = "; ".join([*entries, f"{event.value}="])
        field.focus()
        field.cursor_position = len(field.value)

    @on(Input.Changed)
    @on(Select.Changed, "#benchmark")
    def _changed(self) -> None:
        error = self.query_one("#scenario-error", Label)
        try:
            scenario = self.scenario()
        except PricingError as exc:
            error.update(f"[red]{exc}[/]")
            self._stale(True)
            return
        error.update("")
        benchmark = self.query_one("#benchmark", Select).value
        if isinstance(benchmark, str):
            self.generation += 1
            self.recompute(benchmark, scenario, self.generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="whatif-run")
    def recompute(self, benchmark: str, scenario: Scenario, generation: int) -> None:
        book = load_price_book()
        with self.shared_store.reading() as store:
            try:
                report = run_whatif(store.conn, book, scenario, benchmark=benchmark)
            except EvalbudgetError as exc:  # e.g. a price override for a model not in the store: shown inline
                self.app.call_from_thread(self.show_error, str(exc), generation)
                return
        self.app.call_from_thread(self.show, report, generation)

    def show_error(self, message: str, generation: int) -> None:
        if generation == self.generation:
            self.query_one("#scenario-error", Label).update(f"[red]{message}[/]")
            self._stale(True)

    def _stale(self, stale: bool) -> None:
        """While the form is invalid the results dim (they are the last valid scenario's), and its notes go."""
        self.query_one("#whatif-results").set_class(stale, "stale")
        if stale:
            self.query_one("#scenario-notes", Static).update("")

    def show(self, report: WhatIfReport, generation: int) -> None:
        if generation != self.generation:  # a newer scenario is on its way: this one is stale
            return
        self.report = report
        self._stale(False)
        self.query_one("#scenario-notes", Static).update("\n".join(f"[yellow]{n}[/]" for n in report.notes))

        def money(value: float | None) -> str:
            return "unknown" if value is None else f"{value:,.2f}"

        replace_rows(
            self.query_one("#rows", DataTable),
            (
                (
                    r.key[:26],
                    money(r.baseline_cost_usd),
                    money(r.scenario_cost_usd),
                    f"{r.baseline_accuracy:.3f}",
                    f"{r.scenario_accuracy:.3f}",
                    r.capped_rollouts,
                )
                for r in report.rows
            ),
        )
        self.draw()

    def on_resize(self, event: events.Resize) -> None:
        # (Textual runs ModeScreen's handler too: it walks the class hierarchy)
        self.draw()

    def draw(self) -> None:
        self.query_one("#bars", Chart).refresh()

    def plot_figure(self, plot: Chart) -> None:
        """The costliest rows, one labelled pair of bars each (horizontal, so every label shows): as many as
        the chart's height gives two lines each, up to CHART_ROWS."""
        report = self.report
        if report is None:
            return
        plt = plot.plt
        fits = max(1, (plot.content_size.height - CHART_FRAME_LINES) // 2)
        priced = sorted(
            (r for r in report.rows if r.baseline_cost_usd is not None),
            key=lambda r: (-(r.baseline_cost_usd or 0.0), r.key),
        )[: min(CHART_ROWS, fits)]
        plt.title(
            f"baseline ${report.baseline_cost_usd:,.2f} (blue) vs scenario ${report.scenario_cost_usd:,.2f} (orange)"
        )
        if priced:
            priced.reverse()  # plotext draws the first bar at the bottom
            plt.multiple_bar(
                [r.key[:16] for r in priced],
                [[r.baseline_cost_usd or 0 for r in priced], [r.scenario_cost_usd or 0 for r in priced]],
                color=["blue", "orange"],  # type: ignore[arg-type]  # the stub lags plotext; the title is the legend
                orientation="horizontal",
                width=0.3,
            )
