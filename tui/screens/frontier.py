"""Frontier: cost per item vs accuracy for each (model, scaffold), the Pareto-optimal points joined."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Select
from textual_plotext import PlotextPlot

from evalbudget.engine.frontier import Frontier, frontier
from evalbudget.engine.store import open_store
from evalbudget.tui.screens.base import ModeScreen


class FrontierScreen(ModeScreen):
    MODE = "frontier"
    AGGREGATE_BENCHMARKS = True
    AUTO_FOCUS = "#points"

    def __init__(self) -> None:
        super().__init__()
        self.result: Frontier | None = None

    def compose_body(self) -> ComposeResult:
        yield Select[str]([], prompt="benchmark", id="benchmark")
        with Horizontal(id="frontier-main"):
            yield PlotextPlot(id="chart")
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

    @work(thread=True, exclusive=True, exit_on_error=False, group="frontier-load")
    def load_frontier(self, benchmark: str) -> None:
        with open_store(self.store_path) as store:
            result = frontier(store.conn, benchmark)
        self.app.call_from_thread(self.show_frontier, result)

    def show_frontier(self, result: Frontier) -> None:
        self.result = result
        table = self.query_one("#points", DataTable)
        table.clear()
        numbers = self.pareto_numbers(result)
        for p in result.points:
            cost = "unknown" if p.cost_per_item_usd is None else f"{p.cost_per_item_usd:.4f}"
            mark = f"* {numbers[id(p)]}" if id(p) in numbers else ""
            table.add_row(p.model, f"{p.accuracy:.3f}", cost, mark, p.scaffold[:20])
        self.draw()

    @staticmethod
    def pareto_numbers(result: Frontier) -> dict[int, int]:
        """The priced Pareto-optimal points numbered from the cheapest: the chart labels them with these
        short numbers (names would overwrite each other), the table beside it says whose they are."""
        front = sorted(
            (p for p in result.points if p.pareto and p.cost_per_item_usd),
            key=lambda p: p.cost_per_item_usd or 0.0,
        )
        return {id(p): k for k, p in enumerate(front, 1)}

    def draw(self) -> None:
        if self.result is None:
            return
        plot = self.query_one("#chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        priced = [
            p for p in self.result.points if p.cost_per_item_usd is not None and p.cost_per_item_usd > 0
        ]
        plt.title(f"{self.result.benchmark}: cost vs accuracy; Pareto points numbered")
        plt.xlabel("$ per item (log)")
        plt.ylabel("accuracy")
        if priced:
            plt.xscale("log")
            plt.scatter([p.cost_per_item_usd for p in priced], [p.accuracy for p in priced], marker="dot")
            front = sorted((p for p in priced if p.pareto), key=lambda p: p.cost_per_item_usd or 0)
            plt.plot([p.cost_per_item_usd for p in front], [p.accuracy for p in front], marker="braille")
            numbers = self.pareto_numbers(self.result)
            for p in front:
                plt.text(str(numbers[id(p)]), x=p.cost_per_item_usd, y=p.accuracy, color="orange")
        plot.refresh()
