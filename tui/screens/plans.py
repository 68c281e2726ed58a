"""The plans browser: every plan in the plans folder and every plan saved in this session elsewhere, newest
first; enter makes one the plan Launch runs and Explore's results open."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.launch.setup import read_plan
from evalbudget.engine.paths import plans_dir
from evalbudget.tui.table import replace_rows


class PlansScreen(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="plans.close", tooltip="Close the plans list")]

    def __init__(self, saved: list[Path]) -> None:
        super().__init__()
        self.saved = saved

    def compose(self) -> ComposeResult:
        with Vertical(id="plans-dialog"):
            yield Static(f"[b]Plans[/b] in {plans_dir()} and saved this session", id="plans-title")
            yield DataTable(id="plans-table", cursor_type="row", zebra_stripes=True)
            yield Static("[dim]enter: launch this plan (Launch, 5)   escape: close[/]", id="plans-keys")

    def on_mount(self) -> None:
        self.query_one("#plans-table", DataTable).add_columns(
            "saved", "benchmark", "strategy", "budget", "candidates", "file"
        )
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="plans")
    def load(self) -> None:
        folder = plans_dir()
        paths = [*self.saved, *(sorted(folder.glob("*.json")) if folder.is_dir() else [])]
        rows: list[tuple[str, ...]] = []
        keys: list[str] = []
        for path in dict.fromkeys(p.resolve() for p in paths if p.is_file()):
            try:
                plan, _ = read_plan(path)
            except EvalbudgetError:
                continue  # not a plan (another JSON file in the folder)
            rows.append(
                (
                    plan.created_at.replace("T", " ")[:16],
                    plan.benchmark,
                    plan.strategy,
                    plan.budget,
                    str(len(plan.candidates)),
                    str(path),
                )
            )
            keys.append(str(path))
        order = sorted(range(len(rows)), key=lambda i: rows[i][0], reverse=True)
        self.app.call_from_thread(self.show, [rows[i] for i in order], [keys[i] for i in order])

    def show(self, rows: list[tuple[str, ...]], keys: list[str]) -> None:
        table = self.query_one("#plans-table", DataTable)
        replace_rows(table, rows, keys=keys)
        if not rows:
            self.query_one("#plans-title", Static).update(
                f"No plans yet in {plans_dir()}: save one in Plan mode with s."
            )
        table.focus()

    @on(DataTable.RowSelected, "#plans-table")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.dismiss(Path(event.row_key.value))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
