"""The evalbudget app. For now it opens on Explore: the store at a glance and its benchmarks.

The other modes (Frontier, Plan, What-if, Launch) arrive with their engine work; every DuckDB query runs
in a thread worker, never on the event loop.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from engine.errors import EvalbudgetError
from engine.info import StoreInfo, store_info
from engine.store import open_store, schema_version


class EvalbudgetApp(App[int]):
    """Explore the store: what it holds and what each benchmark cost."""

    CSS_PATH = "app.tcss"
    TITLE = "evalbudget"
    SUB_TITLE = "Explore"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave evalbudget"),
        Binding("r", "reload", "Reload", id="explore.reload", tooltip="Read the store again"),
    ]

    def __init__(self, store_path: Path | None = None) -> None:
        super().__init__()
        self.store_path = store_path
        self.info: StoreInfo | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Reading the store…", id="summary")
        yield DataTable(id="benchmarks", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#benchmarks", DataTable)
        table.add_columns(
            "benchmark", "models", "items", "rollouts", "known cost $", "unpriced", "aggregate runs"
        )
        self.load_info()

    def action_reload(self) -> None:
        self.load_info()

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def load_info(self) -> StoreInfo:
        with open_store(self.store_path) as store:
            return store_info(store.conn, str(store.path), schema_version(store.conn))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            message = str(error) if isinstance(error, EvalbudgetError) else f"{type(error).__name__}: {error}"
            self.query_one("#summary", Static).update(message)
            self.notify(message, severity="error", timeout=10)
        elif event.state == WorkerState.SUCCESS and isinstance(event.worker.result, StoreInfo):
            self.show_info(event.worker.result)

    def show_info(self, info: StoreInfo) -> None:
        self.info = info
        self.query_one("#summary", Static).update(
            f"[b]{info.store}[/b]\n"
            f"{info.rollouts:,} rollouts in {info.runs:,} runs · {info.models:,} models · "
            f"{info.benchmarks:,} benchmarks · {info.items:,} items · {info.scaffolds:,} scaffolds\n"
            f"known cost ${info.cost_usd:,.2f} · {info.unpriced_rollouts:,} rollouts of unknown cost · "
            f"${info.aggregate_cost_usd:,.2f} recorded by {info.aggregate_runs:,} aggregate-only runs"
        )
        table = self.query_one("#benchmarks", DataTable)
        table.clear()
        for row in info.by_benchmark:
            table.add_row(
                row.benchmark,
                row.models,
                row.items,
                f"{row.rollouts:,}",
                "unknown" if row.cost_usd is None else f"{row.cost_usd:,.2f}",
                f"{row.unpriced_rollouts:,}",
                row.aggregate_runs,
                key=row.benchmark,
            )


def run_app(store_path: Path | None = None) -> int:
    EvalbudgetApp(store_path).run()
    return 0
