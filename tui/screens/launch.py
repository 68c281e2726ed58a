"""Launch: run a saved plan (replay from the store, an OpenAI-compatible endpoint, a local vLLM server, or
Inspect) under a spend cap, with progress, a spend-vs-cap gauge and cancel; what finishes is recorded and
shows up in Explore. The backend is built by the same code as `evalbudget launch` (engine.launch.setup)."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static

from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.launch import Launcher, LaunchReport, Unit, UnitResult, launch_id
from evalbudget.engine.launch.setup import LaunchOptions, make_backend, parse_model_map, read_plan, spend_cap
from evalbudget.engine.plan import Plan
from evalbudget.engine.store import open_store
from evalbudget.tui.screens.base import ModeScreen

BACKENDS = (
    ("replay (past data)", "replay"),
    ("openai-compatible endpoint", "openai"),
    ("local vLLM server", "vllm"),
    ("Inspect harness", "inspect"),
)
OPTION_FIELDS = {
    # field id -> (placeholder, the backends it is for)
    "base-url": ("base URL", {"openai"}),
    "model-map": ("model map: PLAN=SERVED, ...", {"openai", "vllm", "inspect"}),
    "gpu-type": ("GPU type (e.g. H100)", {"vllm"}),
    "vllm-command": ("server command (default: vllm serve)", {"vllm"}),
    "inspect-task": ("Inspect task file or name", {"inspect"}),
    "token-limit": ("token limit per sample", {"inspect"}),
}


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
                yield Input(placeholder="max spend $ (default: the plan's budget)", id="max-spend")
                yield Button("Launch", id="start", variant="primary")
        with Horizontal(id="launch-options"):
            for field_id, (placeholder, _) in OPTION_FIELDS.items():
                value = "https://api.openai.com/v1" if field_id == "base-url" else ""
                yield Input(value=value, placeholder=placeholder, id=field_id)
        yield Label("", id="launch-error")
        yield ProgressBar(id="progress", show_eta=True)
        with Horizontal(id="spend-row"):
            yield Static("spend $0.0000", id="spend")
            yield ProgressBar(id="spend-gauge", show_eta=False)
        yield DataTable(id="per-model", cursor_type="row")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self.query_one("#progress", ProgressBar).update(total=1, progress=0)  # still until a launch starts
        self.query_one("#spend-gauge", ProgressBar).update(total=1, progress=0)
        table = self.query_one("#per-model", DataTable)
        table.add_column("model", key="model")
        table.add_column("recorded", key="recorded")
        self._show_options("replay")

    @on(Select.Changed, "#backend")
    def _backend_chosen(self, event: Select.Changed) -> None:
        self._show_options(str(event.value))

    def _show_options(self, backend: str) -> None:
        """Only the fields the chosen backend reads."""
        for field_id, (_, backends) in OPTION_FIELDS.items():
            self.query_one(f"#{field_id}", Input).display = backend in backends
        self.query_one("#launch-options").display = backend != "replay"

    def on_screen_resume(self) -> None:
        self._fill_saved_plan()

    def _fill_saved_plan(self) -> Input:
        """An empty plan field takes the plan saved in Plan mode (on showing, and again on launching, for a
        save that finished after this screen showed)."""
        field = self.query_one("#plan", Input)
        saved = getattr(self.app, "last_plan_path", None)
        if saved and not field.value.strip():
            field.value = str(saved)
        return field

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        error = self.query_one("#launch-error", Label)
        path = Path(self._fill_saved_plan().value.strip() or ".")
        try:
            plan, text = read_plan(path)
        except EvalbudgetError:
            error.update(f"[red]{path}: not a readable plan file.[/]")
            return
        spend_text = self.query_one("#max-spend", Input).value.strip()
        try:
            max_spend = spend_cap(plan, float(spend_text) if spend_text else None)
        except (ValueError, EvalbudgetError):
            error.update("[red]max spend must be a number of dollars, 0 or more.[/]")
            return
        backend = str(self.query_one("#backend", Select).value)
        try:
            options = self._options(backend, plan)
        except EvalbudgetError as exc:
            error.update(f"[red]{exc}[/]")
            return
        error.update("")
        self.done_by_model = {}
        self.query_one("#per-model", DataTable).clear()
        total = sum(len(s.models) * len(s.item_ids) * s.repeats for s in plan.stages)
        self.query_one("#progress", ProgressBar).update(total=total, progress=0)
        self.query_one("#spend-gauge", ProgressBar).update(total=max_spend or None, progress=0)
        self.run_launch(plan, text, str(path), options, max_spend)

    def _options(self, backend: str, plan: Plan) -> LaunchOptions:
        """The form as launch options; a bad field is one sentence, like the CLI's."""

        def value(field_id: str) -> str:
            return self.query_one(f"#{field_id}", Input).value.strip()

        pairs = [p for p in value("model-map").split(",") if p.strip()]
        limit = value("token-limit")
        if limit and not limit.isdigit():
            raise EvalbudgetError(f"token limit {limit!r} must be a whole number of tokens.")
        return LaunchOptions(
            backend=backend,
            base_url=value("base-url") or "https://api.openai.com/v1",
            model_map=parse_model_map(pairs, plan, flag="model map") if backend != "replay" else {},
            gpu_type=value("gpu-type") or None,
            vllm_command=value("vllm-command") or "vllm serve",
            inspect_task=value("inspect-task") or None,
            token_limit=int(limit) if limit else None,
        )

    def action_cancel(self) -> None:
        if self.launcher is not None:
            self.launcher.cancel()
            self.query_one("#status", Static).update(
                "cancelling: requests in flight finish and are recorded…"
            )

    @work(exclusive=True, exit_on_error=False, group="launch")
    async def run_launch(
        self, plan: Plan, text: str, source: str, options: LaunchOptions, max_spend: float | None
    ) -> None:
        run_id = launch_id(text, options.backend, options.model_map, options.endpoint)
        with open_store(self.store_path, write=True, purpose=f"evalbudget app: launch {source}") as store:
            try:
                backend = make_backend(store.conn, plan, run_id, options)
            except EvalbudgetError as exc:
                self.query_one("#launch-error", Label).update(f"[red]{exc}[/]")
                return
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
        cap = max_spend
        self.query_one("#spend", Static).update(
            f"spend ${report.spend_usd:,.4f}" + (f" of ${cap:,.4f}" if cap is not None else " (no cap)")
        )
        if cap:
            self.query_one("#spend-gauge", ProgressBar).update(total=cap, progress=min(report.spend_usd, cap))
        self.query_one("#status", Static).update(
            f"[b]{report.status}[/b]: {report.completed} recorded, {report.failed} failed, "
            f"{report.skipped_existing} already recorded, {report.missing} missing; spend ${report.spend_usd:,.4f}"
        )

    def on_result(self, unit: Unit, result: UnitResult) -> None:
        self.done_by_model[unit.model] = self.done_by_model.get(unit.model, 0) + 1
        self.query_one("#progress", ProgressBar).advance(1)
        if self.launcher is not None:
            cap, spent = self.launcher.guard.cap, self.launcher.guard.spent
            self.query_one("#spend", Static).update(
                f"spend ${spent:,.4f}" + (f" of ${cap:,.4f}" if cap is not None else " (no cap)")
            )
            if cap:
                self.query_one("#spend-gauge", ProgressBar).update(total=cap, progress=min(spent, cap))
        table = self.query_one("#per-model", DataTable)
        if unit.model in table.rows:
            table.update_cell(unit.model, "recorded", self.done_by_model[unit.model])
        else:
            table.add_row(unit.model, self.done_by_model[unit.model], key=unit.model)
