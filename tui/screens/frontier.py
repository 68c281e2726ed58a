"""Frontier: cost (per item, or per run where runs give no item count) vs accuracy for each (model, scaffold),
the Pareto-optimal points joined."""

from __future__ import annotations

import math

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Select

from evalbudget.engine.frontier import Frontier, FrontierPoint, frontier, money_text
from evalbudget.tui.chart import Chart
from evalbudget.tui.screens.base import ModeScreen
from evalbudget.tui.table import replace_rows


def label_heights(
    result: Frontier, front: list[FrontierPoint], shown: list[FrontierPoint], width: int, height: int
) -> list[float]:
    """Where to write each Pareto point's number so no two overwrite each other: at the point, or a row or
    two above or below it where that row's span of the chart is already taken (positions in the chart's
    character cells, from the log cost and the accuracy, over the axes' range: every point ``shown``)."""
    costs = [math.log(result.cost(p) or 1e-12) for p in front]
    accuracies = [p.accuracy for p in front]
    every_cost = [math.log(result.cost(p) or 1e-12) for p in shown]
    x_low = min(every_cost)
    x_span = (max(every_cost) - x_low) or 1.0
    y_low, y_high = min(p.accuracy for p in shown), max(p.accuracy for p in shown)
    y_span = (y_high - y_low) or 1.0
    row_height = y_span / max(height - 6, 1)  # axes, ticks and title take about six rows
    taken: list[tuple[int, int, int]] = []
    heights = []
    for number, (x, y) in enumerate(zip(costs, accuracies, strict=True), 1):
        column = round((x - x_low) / x_span * max(width - 10, 1))
        row = round((y - y_low) / y_span * max(height - 6, 1))
        label = len(str(number))
        # rows are estimated, so a label keeps a row of clearance from the others
        for shift in (0, 2, -2, 4, -4, 6):
            if all(abs(r - row - shift) > 1 or column + label < c or column > c + w for r, c, w in taken):
                break
        taken.append((row + shift, column, label))
        heights.append(y + shift * row_height)
    return heights


class FrontierScreen(ModeScreen):
    MODE = "frontier"
    AGGREGATE_BENCHMARKS = True
    AUTO_FOCUS = "#points"

    def __init__(self) -> None:
        super().__init__()
        self.result: Frontier | None = None
        self._version = 0
        """The app's history version the frontier shown was read at."""

    def compose_body(self) -> ComposeResult:
        yield Select[str]([], prompt="benchmark", id="benchmark")
        with Horizontal(id="frontier-main"):
            yield Chart(self.plot_figure, id="chart")
            yield DataTable(id="points", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#points", DataTable)
        table.add_column("model", width=28)
        table.add_columns("acc", "$/item", "pareto", "scaffold")
        self.load_benchmarks()

    @on(Select.Changed, "#benchmark")
    def _chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.load_frontier(event.value)

    def on_screen_resume(self) -> None:
        """A run excluded or deleted since the frontier was drawn: draw it again from the history as it is."""
        benchmark = self.query_one("#benchmark", Select).value
        if self.history_version != self._version and isinstance(benchmark, str):
            self.load_frontier(benchmark)

    @work(thread=True, exclusive=True, exit_on_error=False, group="frontier-load")
    def load_frontier(self, benchmark: str) -> None:
        self._version = self.history_version
        with self.shared_store.reading() as store:
            result = frontier(store.conn, benchmark)
        self.app.call_from_thread(self.show_frontier, result)

    def show_frontier(self, result: Frontier) -> None:
        self.result = result
        numbers = self.pareto_numbers(result)
        replace_rows(
            self.query_one("#points", DataTable),
            (
                (
                    p.model,
                    f"{p.accuracy:.3f}",
                    money_text(result, p),
                    f"* {numbers[id(p)]}" if id(p) in numbers else "",
                    p.scaffold[:20],
                )
                for p in result.points
            ),
            labels=["model", "acc", result.cost_label, "pareto", "scaffold"],
        )
        self.draw()

    @staticmethod
    def pareto_numbers(result: Frontier) -> dict[int, int]:
        """The priced Pareto-optimal points numbered from the cheapest: the chart labels them with these
        short numbers (names would overwrite each other), the table beside it says whose they are."""
        front = sorted(
            (p for p in result.points if p.pareto and result.cost(p)),
            key=lambda p: result.cost(p) or 0.0,
        )
        return {id(p): k for k, p in enumerate(front, 1)}

    def draw(self) -> None:
        self.query_one("#chart", Chart).refresh()

    def plot_figure(self, plot: Chart) -> None:
        if self.result is None:
            return
        plt = plot.plt
        result = self.result
        priced = [p for p in result.points if (result.cost(p) or 0.0) > 0]
        plt.title(f"{result.benchmark}: cost vs accuracy; Pareto points numbered")
        plt.xlabel(f"$ per {result.cost_basis} (log)")
        plt.ylabel("accuracy")
        if priced:
            plt.xscale("log")
            plt.scatter([result.cost(p) for p in priced], [p.accuracy for p in priced], marker="dot")
            front = sorted((p for p in priced if p.pareto), key=lambda p: result.cost(p) or 0)
            plt.plot([result.cost(p) for p in front], [p.accuracy for p in front], marker="braille")
            numbers = self.pareto_numbers(result)
            width, height = plot.content_size.width, plot.content_size.height
            for p, y in zip(front, label_heights(result, front, priced, width, height), strict=True):
                plt.text(str(numbers[id(p)]), x=result.cost(p), y=y, color="orange")
