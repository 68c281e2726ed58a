"""The runs browser, opened from Explore: every ingested file and launch (source, plan, when, what it holds,
what it spent, whether it is history); x leaves one out of the history or takes it back, d deletes one after
asking. A change is felt by every mode: they read the store again when next shown."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.runs import RunSummary, delete_run, list_runs, set_excluded
from evalbudget.engine.store import SharedStore
from evalbudget.engine.tables import money
from evalbudget.tui.screens.base import app_store
from evalbudget.tui.screens.confirm import Confirm
from evalbudget.tui.table import replace_rows


class RunsScreen(ModalScreen[None]):
    AUTO_FOCUS = "#runs-table"
    BINDINGS = [
        Binding("escape", "back", "Close", id="runs.close", tooltip="Leave the filter, or close the runs"),
        Binding(
            "x", "toggle_excluded", "Exclude/include", id="runs.exclude", tooltip="Leave out of the history"
        ),
        Binding("d", "delete", "Delete", id="runs.delete", tooltip="Delete the run and its rollouts"),
        Binding("slash", "filter", "Filter", id="runs.filter", tooltip="Filter the runs"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-dialog"):
            yield Static("Reading the runs…", id="runs-title")
            yield Input(placeholder="filter: source, benchmark, harness or run", id="runs-filter")
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            yield Static(
                "[dim]x: exclude from the history / include again   d: delete   /: filter   escape: close[/]",
                id="runs-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#runs-table", DataTable).add_columns(
            "when", "source", "harness", "benchmarks", "rollouts", "spend $", "history", "plan", "run"
        )
        self.load()

    @property
    def store(self) -> SharedStore:
        return app_store(self.app)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs")
    def load(self) -> None:
        with self.store.reading() as reader:
            runs = list_runs(reader.conn)
        self.app.call_from_thread(self.show, runs)

    def show(self, runs: list[RunSummary]) -> None:
        self.runs = runs
        launches = sum(r.harness.startswith("launch:") for r in runs)
        excluded = sum(r.excluded for r in runs)
        self.query_one("#runs-title", Static).update(
            f"[b]Runs[/b]: {len(runs):,} ({launches:,} launches, {excluded:,} left out of the history)"
        )
        self.fill()

    def fill(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        keep = table.cursor_row
        needle = self.query_one("#runs-filter", Input).value.strip().lower()
        shown = [
            r
            for r in self.runs
            if not needle or needle in " ".join([r.source, r.harness, r.run_id, *r.benchmarks]).lower()
        ]
        replace_rows(
            table,
            (
                (
                    r.imported_at.strftime("%Y-%m-%d %H:%M") if r.imported_at else "",
                    r.source[-40:],
                    r.harness,
                    ", ".join(r.benchmarks)[:30],
                    f"{r.rollouts:,}",
                    money(r.spend_usd),
                    "excluded" if r.excluded else "yes",
                    r.plan_id or "",
                    r.run_id,
                )
                for r in shown
            ),
            keys=[r.run_id for r in shown],
        )
        if shown:
            table.move_cursor(row=min(keep, len(shown) - 1))

    @on(Input.Changed, "#runs-filter")
    def _filter(self) -> None:
        self.fill()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#runs-table", DataTable).focus()
        else:
            self.dismiss()

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def chosen(self) -> RunSummary | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.runs if r.run_id == key), None)

    def action_toggle_excluded(self) -> None:
        run = self.chosen()
        if run is not None:
            self.change(run.run_id, "include" if run.excluded else "exclude")

    def action_delete(self) -> None:
        run = self.chosen()
        if run is None:
            return
        question = (
            f"Delete run {run.run_id} ({run.source}): its {run.rollouts:,} rollouts go for good. Excluding it "
            "(x) keeps them but leaves them out of the history."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.change(run.run_id, "delete")

        self.app.push_screen(Confirm(question, yes="delete", no="keep it"), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-change")
    def change(self, run_id: str, action: str) -> None:
        try:
            with self.store.writing(purpose=f"evalbudget app: {action} run {run_id}") as writer:
                if action == "delete":
                    gone = delete_run(writer.conn, run_id)
                    message = f"Deleted run {run_id} and its {gone:,} rollouts."
                else:
                    set_excluded(writer.conn, run_id, action == "exclude")
                    where = "left out of" if action == "exclude" else "back in"
                    message = f"Run {run_id} is {where} the history."
        except EvalbudgetError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.history_version += 1  # type: ignore[attr-defined]
        self.app.call_from_thread(self.notify, message)
        self.load()
