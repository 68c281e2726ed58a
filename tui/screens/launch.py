"""Launch: run a saved plan (replay from the store, or an OpenAI-compatible endpoint) under a spend cap, with
progress, a spend gauge and cancel; what finishes is recorded and shows up in Explore."""

from __future__ import annotations

import os
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static

from engine.errors import EvalbudgetError
from engine.launch import Launcher, LaunchReport, OpenAIBackend, ReplayBackend, Unit, UnitResult, launch_id
from engine.plan import Plan
from engine.prices import launch_price_cards, load_price_book
from engine.store import open_store
from tui.screens.base import ModeScreen

BACKENDS = (("replay (past data)", "replay"), ("openai-compatible endpoint", "openai"))


class LaunchScreen(ModeScreen):
    MODE = "launch"
    AUTO_FOCUS = "#per-model"
    BINDINGS = [
        Binding("l", "start", "Launch", id="launch.start", tooltip="Run the plan"),
        Binding(
            "c", "cancel", "Cancel", id="launch.cancel", tooltip="Stop starting requests; keep what finished"
        ),
    ]

    def action_start(self) -> None:
        self._start()

    def __init__(self) -> None:
        super().__init__()
        self.launcher: Launcher | None = None
        self.report: LaunchReport | None = None
        self.done_by_model: dict[str, int] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="launch-form"):
            with Vertical():
                yield Input(placeholder="plan file (saved from Plan: s)", id="plan")
                yield Select[str](BACKENDS, allow_blank=False, value="replay", id="backend")
            with Vertical():
                yield Input(value="https://api.openai.com/v1", placeholder="base URL (openai)", id="base-url")
                yield Input(placeholder="max spend $ (default: the plan's budget)", id="max-spend")
            yield Button("Launch", id="start", variant="primary")
        yield Label("", id="launch-error")
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("spend $0.0000", id="spend")
        yield DataTable(id="per-model", cursor_type="row")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self.query_one("#progress", ProgressBar).update(total=1, progress=0)  # still until a launch starts
        table = self.query_one("#per-model", DataTable)
        table.add_column("model", key="model")
        table.add_column("recorded", key="recorded")

    def on_screen_resume(self) -> None:
        saved = getattr(self.app, "last_plan_path", None)
        field = self.query_one("#plan", Input)
        if saved and not field.value:
            field.value = str(saved)

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        error = self.query_one("#launch-error", Label)
        path = Path(self.query_one("#plan", Input).value.strip() or ".")
        try:
            text = path.read_text()
            plan = Plan.model_validate_json(text)
        except (OSError, ValueError):
            error.update(f"[red]{path}: not a readable plan file.[/]")
            return
        spend_text = self.query_one("#max-spend", Input).value.strip()
        try:
            max_spend = (
                float(spend_text) if spend_text else (plan.budget_units if plan.cost_unit == "usd" else None)
            )
            if max_spend is not None and max_spend < 0:
                raise ValueError
        except ValueError:
            error.update("[red]max spend must be a number of dollars, 0 or more.[/]")
            return
        error.update("")
        backend = str(self.query_one("#backend", Select).value)
        base_url = self.query_one("#base-url", Input).value.strip()
        self.done_by_model = {}
        self.query_one("#per-model", DataTable).clear()
        total = sum(len(s.models) * len(s.item_ids) * s.repeats for s in plan.stages)
        self.query_one("#progress", ProgressBar).update(total=total, progress=0)
        self.run_launch(plan, text, str(path), backend, base_url, max_spend)

    def action_cancel(self) -> None:
        if self.launcher is not None:
            self.launcher.cancel()
            self.query_one("#status", Static).update(
                "cancelling: requests in flight finish and are recorded…"
            )

    @work(exclusive=True, exit_on_error=False, group="launch")
    async def run_launch(
        self, plan: Plan, text: str, source: str, backend_name: str, base_url: str, max_spend: float | None
    ) -> None:
        run_id = launch_id(text, backend_name, {}, base_url if backend_name == "openai" else None)
        with open_store(self.store_path, write=True, purpose=f"evalbudget app: launch {source}") as store:
            backend: ReplayBackend | OpenAIBackend
            if backend_name == "replay":
                backend = ReplayBackend(store.conn, plan.benchmark, exclude_run=run_id)
            else:
                try:
                    cards = launch_price_cards({m for s in plan.stages for m in s.models}, load_price_book())
                except EvalbudgetError as exc:
                    self.query_one("#launch-error", Label).update(f"[red]{exc}[/]")
                    return
                backend = OpenAIBackend(
                    base_url=base_url,
                    served_models={},
                    cards=cards,
                    api_key=os.environ.get("OPENAI_API_KEY") or None,
                )
            self.launcher = Launcher(
                store.conn, plan, backend, run_id=run_id, source=source, max_spend=max_spend
            )
            self.launcher.on_result = self.on_result
            self.query_one("#status", Static).update(f"running {run_id}…")
            report = await self.launcher.run()
        self.launcher = None
        self.report = report
        self.query_one("#progress", ProgressBar).update(
            progress=report.completed + report.skipped_existing + report.failed
        )
        self.query_one("#status", Static).update(
            f"[b]{report.status}[/b]: {report.completed} recorded, {report.failed} failed, "
            f"{report.skipped_existing} already recorded, {report.missing} missing; spend ${report.spend_usd:,.4f}"
        )

    def on_result(self, unit: Unit, result: UnitResult) -> None:
        self.done_by_model[unit.model] = self.done_by_model.get(unit.model, 0) + 1
        self.query_one("#progress", ProgressBar).advance(1)
        if self.launcher is not None:
            cap = self.launcher.guard.cap
            self.query_one("#spend", Static).update(
                f"spend ${self.launcher.guard.spent:,.4f}" + (f" of ${cap:,.4f}" if cap is not None else "")
            )
        table = self.query_one("#per-model", DataTable)
        if unit.model in table.rows:
            table.update_cell(unit.model, "recorded", self.done_by_model[unit.model])
        else:
            table.add_row(unit.model, self.done_by_model[unit.model], key=unit.model)
