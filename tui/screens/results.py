"""A launched plan's results, opened from Explore: the estimated leaderboard with intervals and tiers."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.launch.setup import read_plan
from evalbudget.engine.results import Results, plan_results
from evalbudget.tui import leaderboard
from evalbudget.tui.screens.base import app_store


class ResultsScreen(ModalScreen[None]):
    """The plan file's path (the plan saved last, to start with), and the leaderboard its launches give."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="results.close", tooltip="Close the results")]

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="results-dialog"):
            yield Input(value=self.path, placeholder="plan file (enter loads its results)", id="results-plan")
            yield Static("", id="results-summary")
            yield DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
            yield Static("[dim]enter: load the plan's results   escape: close[/]", id="results-keys")

    def on_mount(self) -> None:
        table = self.query_one("#results-table", DataTable)
        for column in leaderboard.COLUMNS:
            table.add_column(column, key=column)
        if self.path:
            self.load(self.path)
        else:
            self.query_one("#results-plan", Input).focus()

    @on(Input.Submitted, "#results-plan")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.load(event.value.strip())

    @work(thread=True, exclusive=True, exit_on_error=False, group="results")
    def load(self, path: str) -> None:
        try:
            plan, _ = read_plan(Path(path).expanduser())
            with app_store(self.app).reading() as reader:
                results = plan_results(reader.conn, plan)
        except EvalbudgetError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.show_results, results)

    def show_results(self, results: Results) -> None:
        self.query_one("#results-summary", Static).update(leaderboard.summary(results))
        table = self.query_one("#results-table", DataTable)
        leaderboard.show(table, results)
        table.focus()

    def show_error(self, message: str) -> None:
        self.query_one("#results-summary", Static).update(f"[red]{message}[/]")
        self.query_one("#results-table", DataTable).clear()
