"""Launch: run a saved plan (replay from the store, an OpenAI-compatible endpoint, vLLM servers here or on a
Ray cluster, or Inspect) under a spend cap, with progress, a spend-vs-cap gauge and cancel; what finishes is recorded and
shows up in Explore. The backend is built by the same code as `evalbudget launch` (engine.launch.setup)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static

from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.items import load_items_file
from evalbudget.engine.launch import Launcher, LaunchReport, Unit, UnitResult, launch_id
from evalbudget.engine.launch.options import (
    BACKEND_LABELS,
    LaunchOptions,
    backends_of,
    label_of,
    launch_options,
)
from evalbudget.engine.launch.ray_pool import describe_cluster
from evalbudget.engine.launch.setup import check_model_map, make_backend, read_plan, spend_cap
from evalbudget.engine.plan import Plan, format_plan
from evalbudget.engine.results import Results, plan_results
from evalbudget.tui import leaderboard
from evalbudget.tui.screens.base import ModeScreen, describe
from evalbudget.tui.screens.confirm import Confirm
from evalbudget.tui.screens.files import FilePicker
from evalbudget.tui.table import replace_rows

PROGRESS_INTERVAL_S = 0.25
"""How often the screen redraws a running launch's counts."""
LEADERBOARD_INTERVAL_S = 2.0
"""How often a running launch's estimated leaderboard is recomputed from what the store has recorded."""
FORM_OPTIONS = [name for name in LaunchOptions.model_fields if name != "backend"]
"""Every launch option but the backend (a chooser of its own): one field each, built from the model."""


def help_of(name: str) -> str:
    return str(LaunchOptions.model_fields[name].description)


def form_hint(name: str) -> str:
    """An empty field's hint: the default it stands for, else what to type."""
    field = LaunchOptions.model_fields[name]
    if name == "max_spend":
        return "default: the plan's budget"
    if field.default in (None, [], {}):
        extra = field.json_schema_extra
        metavar = extra.get("metavar") if isinstance(extra, dict) else None
        return str(metavar or "")
    return f"default: {field.default}"


class LaunchScreen(ModeScreen):
    MODE = "launch"
    AUTO_FOCUS = "#per-model"
    BINDINGS = [
        Binding("l", "start", "Launch", id="launch.start", tooltip="Run the plan"),
        Binding("i", "load_items", "Items", id="launch.items", tooltip="Load the benchmark's items (JSONL)"),
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
        """Rollouts recorded per candidate in the current launch (written by the launch's thread)."""
        self._shown: dict[str, int] = {}
        self.plan: Plan | None = None
        """The plan launched last: its estimated leaderboard is shown as its rollouts arrive."""
        self._estimates_due = False
        self._starting = False
        """A launch is being set up or running (its worker has not finished)."""
        self._cancel_requested = False
        self._offered: Path | None = None
        """The saved plan last put in the plan field."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="launch-form"):
            yield Input(placeholder="plan file (saved from Plan: s)", id="plan")
            yield Select[str](
                [(label, name) for name, label in BACKEND_LABELS.items()],
                allow_blank=False,
                value="replay",
                id="backend",
            )
            yield Button("Launch", id="start", variant="primary")
        with Grid(id="launch-options"):
            for name in FORM_OPTIONS:
                yield Label(label_of(name), id=f"label-{name}", classes="option-label")
                yield Input(
                    placeholder=form_hint(name), id=f"option-{name}", compact=True, tooltip=help_of(name)
                )
        yield Label("", id="launch-error")
        yield ProgressBar(id="progress", show_eta=True)
        with Horizontal(id="spend-row"):
            yield Static("spend $0.0000", id="spend")
            yield ProgressBar(id="spend-gauge", show_eta=False)
        yield DataTable(id="per-model", cursor_type="row")
        yield Static("", id="estimate")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self.query_one("#progress", ProgressBar).update(total=1, progress=0)  # still until a launch starts
        self.query_one("#spend-gauge", ProgressBar).update(total=1, progress=0)
        table = self.query_one("#per-model", DataTable)
        for column in leaderboard.COLUMNS:
            table.add_column(column, key=column)
        self._show_options("replay")
        self.set_interval(PROGRESS_INTERVAL_S, self.show_progress)
        self.set_interval(LEADERBOARD_INTERVAL_S, self._tick_leaderboard)

    @on(Select.Changed, "#backend")
    def _backend_chosen(self, event: Select.Changed) -> None:
        self._show_options(str(event.value))

    def _show_options(self, backend: str) -> None:
        """Only the fields the chosen backend reads."""
        for name in FORM_OPTIONS:
            shown = backend in backends_of(name)
            self.query_one(f"#option-{name}", Input).display = shown
            self.query_one(f"#label-{name}", Label).display = shown

    def on_screen_resume(self) -> None:
        """A plan saved or chosen since this screen last showed takes the plan field."""
        saved = getattr(self.app, "last_plan_path", None)
        if saved and saved != self._offered:
            self._offered = saved
            self.query_one("#plan", Input).value = str(saved)
        self._fill_saved_plan()

    def _fill_saved_plan(self) -> Input:
        """An empty plan field takes the plan saved in Plan mode (on showing, and again on launching, for a
        save that finished after this screen showed)."""
        field = self.query_one("#plan", Input)
        saved = getattr(self.app, "last_plan_path", None)
        if saved and not field.value.strip():
            field.value = str(saved)
        return field

    def _read_plan(self) -> tuple[Path, Plan, str] | None:
        """The plan file in the form, or None with the reason shown."""
        path = Path(self._fill_saved_plan().value.strip() or ".")
        try:
            plan, text = read_plan(path)
        except EvalbudgetError:
            self.query_one("#launch-error", Label).update(
                f"[red]{path}: not a readable plan file (save one in Plan mode with s).[/]"
            )
            return None
        return path, plan, text

    def action_load_items(self) -> None:
        """Pick the JSONL of the plan's benchmark's items (prompts, targets, scorers) and load it."""
        read = self._read_plan()
        if read is None:
            return
        benchmark = read[1].benchmark

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.load_items(path, benchmark)

        self.app.push_screen(FilePicker(f"Items of {benchmark}", (".jsonl", ".json")), chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="launch-items")
    def load_items(self, path: Path, benchmark: str) -> None:
        try:
            with self.shared_store.writing(purpose=f"evalbudget app: load items {path}") as store:
                loaded = load_items_file(store.conn, path, benchmark)
        except EvalbudgetError as exc:
            self.app.call_from_thread(self.query_one("#launch-error", Label).update, f"[red]{exc}[/]")
            return
        self.app.call_from_thread(
            self.query_one("#status", Static).update,
            f"{path}: {loaded.added} new and {loaded.updated} updated items on {loaded.benchmark}",
        )
        self.app.call_from_thread(self.query_one("#launch-error", Label).update, "")

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        error = self.query_one("#launch-error", Label)
        if self.launcher is not None or self._starting:
            error.update("[red]A launch is running: cancel it (c) or let it finish first.[/]")
            return
        read = self._read_plan()
        if read is None:
            return
        path, plan, text = read
        backend = str(self.query_one("#backend", Select).value)
        try:
            options = self._options(backend, plan)
            max_spend = spend_cap(plan, options.max_spend)
        except EvalbudgetError as exc:
            error.update(f"[red]{exc}[/]")
            return
        error.update("")
        summary = (
            format_plan(plan).split("\n\n")[0]
            + f"\n\n[b]on[/b] {BACKEND_LABELS[backend]}"
            + (f" at {options.endpoint}" if options.endpoint else "")
            + (
                f", sent from {options.ray_workers} Ray workers ({options.ray}), {options.in_flight} at a time, "
                if options.ray and backend == "openai"
                else f", up to {options.ray_workers} engines at once on the Ray cluster ({options.ray}), "
                f"{options.concurrency} requests each at a time, "
                if options.ray
                else f", {options.concurrency} at a time, "
            )
            + (
                f"spending at most ${max_spend:,.4f} across the plan's runs"
                if max_spend is not None
                else "no cap"
            )
            + "\n\nStart this launch?"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._begin(path, plan, text, options, max_spend)

        self.app.push_screen(Confirm(summary, yes="launch", no="back to the form"), answered)

    def _begin(
        self, path: Path, plan: Plan, text: str, options: LaunchOptions, max_spend: float | None
    ) -> None:
        names = list(dict.fromkeys(str(candidate) for stage in plan.stages for candidate in stage.models))
        self.done_by_model = dict.fromkeys(names, 0)
        self._shown, self.report = dict(self.done_by_model), None
        replace_rows(
            self.query_one("#per-model", DataTable),
            (("", name, "0", "", "", "", "", "") for name in names),
            keys=names,
        )
        self.plan = plan
        self.query_one("#estimate", Static).update("")
        total = sum(len(s.models) * len(s.item_ids) * s.repeats for s in plan.stages)
        self.query_one("#progress", ProgressBar).update(total=total, progress=0)
        self.query_one("#spend-gauge", ProgressBar).update(total=max_spend or None, progress=0)
        self.query_one("#status", Static).update("starting…")
        self._starting, self._cancel_requested = True, False
        self.run_launch(plan, text, str(path), options, max_spend)

    def _options(self, backend: str, plan: Plan) -> LaunchOptions:
        """The form as launch options, checked by the model the CLI's flags come from; a bad field is one
        sentence naming it."""
        values: dict[str, str] = {
            name: self.query_one(f"#option-{name}", Input).value.strip()
            for name in FORM_OPTIONS
            if backend in backends_of(name)
        }
        options = launch_options({**values, "backend": backend}, naming="label")
        check_model_map(options, plan, naming="label")
        return options

    def action_cancel(self) -> None:
        """Stop starting requests; what is in flight finishes and is recorded. While the backend is still
        being set up (a vLLM server starting), the launch ends as soon as the setup does, before any request."""
        if self.launcher is not None:
            self.launcher.cancel()
            self.query_one("#status", Static).update(
                "cancelling: requests in flight finish and are recorded…"
            )
        elif self._starting:
            self._cancel_requested = True
            self.query_one("#status", Static).update(
                "cancelling: the launch ends once its backend is set up…"
            )

    @work(thread=True, exclusive=True, exit_on_error=False, group="launch")
    def run_launch(
        self, plan: Plan, text: str, source: str, options: LaunchOptions, max_spend: float | None
    ) -> None:
        """The launch, on a thread of its own with its own event loop: its store writes, its requests and a
        vLLM server's stop never hold up the screen, which redraws the counts a few times a second."""
        try:
            self._run_launch(plan, text, source, options, max_spend)
        except Exception as exc:  # shown in the panel, whole: the launch has failed, the app goes on
            if self.app.is_running:
                self.app.call_from_thread(self.show_failed, describe(exc))
        finally:
            self._starting = False

    def _run_launch(
        self, plan: Plan, text: str, source: str, options: LaunchOptions, max_spend: float | None
    ) -> None:
        run_id = launch_id(text, options.backend, options.model_map, options.endpoint)
        with self.shared_store.writing(purpose=f"evalbudget app: launch {source}") as store:
            backend = make_backend(store.conn, plan, run_id, options)
            if self._cancel_requested:
                self.app.call_from_thread(
                    self.show_failed, "cancelled before any request was sent", "cancelled"
                )
                return
            launcher = Launcher(
                store.conn,
                plan,
                backend,
                run_id=run_id,
                source=source,
                max_spend=max_spend,
                concurrency=options.in_flight,
                progress=False,  # stderr is the app's terminal
            )
            launcher.on_result = self.on_result
            self.launcher = launcher
            launches: set[Launcher] = getattr(self.app, "launches", set())
            launches.add(launcher)
            self.app.call_from_thread(self.query_one("#status", Static).update, f"running {run_id}…")
            try:
                report = asyncio.run(launcher.run())
            finally:
                self.launcher = None
                launches.discard(launcher)
        if self.app.is_running:
            self.app.call_from_thread(self.show_report, report, max_spend)

    def show_failed(self, reason: str, state: str = "failed") -> None:
        """The launch ended without a report: its state and reason stay in the panel."""
        self.query_one("#status", Static).update(f"[b red]{state}[/]: {reason}")
        if state == "failed":
            self.query_one("#launch-error", Label).update(f"[red]{reason}[/]")
        self.query_one("#progress", ProgressBar).update(total=1, progress=0)
        # what a library wrote on the terminal itself meanwhile (Ray's C++ client logs a failed connect on
        # file descriptor 2) is painted over
        self.app.refresh(repaint=True)

    def _tick_leaderboard(self) -> None:
        if self.plan is not None and (self.launcher is not None or self._estimates_due):
            self._estimates_due = False
            self.refresh_leaderboard(self.plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="leaderboard")
    def refresh_leaderboard(self, plan: Plan) -> None:
        """The plan's estimated leaderboard from what the store has recorded so far (its own estimator, the
        intervals calibrated on the history), on a thread: a calibration takes up to a second."""
        try:
            with self.shared_store.reading() as store:
                results = plan_results(store.conn, plan)
        except EvalbudgetError:
            return  # nothing recorded yet
        if self.app.is_running:
            self.app.call_from_thread(self.show_leaderboard, results)

    def show_leaderboard(self, results: Results) -> None:
        leaderboard.show(self.query_one("#per-model", DataTable), results, dict(self.done_by_model))
        lines = leaderboard.summary(results).splitlines()
        self.query_one("#estimate", Static).update(
            "\n".join(line for line in lines if line.startswith(("intervals", "missing")))
        )

    def show_report(self, report: LaunchReport, cap: float | None) -> None:
        self.report = report
        self._estimates_due = True  # the last estimate, from everything the launch recorded
        self.show_progress()
        done = report.completed + report.skipped_existing + report.failed
        # a staged plan's total counts every item its stages may reach; a finished one did all it would
        finished = report.status in ("completed", "budget_exhausted")
        self.query_one("#progress", ProgressBar).update(
            total=max(done, 1) if finished else None, progress=done
        )
        self.query_one("#spend", Static).update(
            f"spend ${report.spend_usd:,.4f}" + (f" of ${cap:,.4f}" if cap is not None else " (no cap)")
        )
        if cap:
            self.query_one("#spend-gauge", ProgressBar).update(total=cap, progress=min(report.spend_usd, cap))
        state = f"[b red]{report.status}[/]" if report.status == "failed" else f"[b]{report.status}[/b]"
        why = "".join(f"\n[red]a request failed: {error}[/]" for error in report.errors)
        self.query_one("#status", Static).update(
            f"{state}: {report.completed} recorded, {report.failed} failed, "
            f"{report.skipped_existing} already recorded, {report.missing} missing; spend ${report.spend_usd:,.4f}"
            + (f" (${report.unsettled_usd:,.4f} at worst case)" if report.unsettled_usd else "")
            + (
                f"; the plan's runs ${report.plan_spent_usd:,.4f}"
                if report.plan_spent_usd > report.spend_usd
                else ""
            )
            + (f"; provider overrun ${report.overrun_usd:,.4f}" if report.overrun_usd else "")
            + (f"\n{describe_cluster(report.cluster)}" if report.cluster else "")
            + why
        )

    def on_result(self, unit: Unit, result: UnitResult) -> None:
        """Called on the launch's thread for each recorded rollout: counts only (show_progress draws them)."""
        name = str(unit.candidate)
        self.done_by_model[name] = self.done_by_model.get(name, 0) + 1

    def show_progress(self) -> None:
        """Draw the counts and the spend as they are now (a few times a second while a launch runs)."""
        counts = dict(self.done_by_model)
        if counts == self._shown:
            return
        self._shown = counts
        self.query_one("#progress", ProgressBar).update(progress=sum(counts.values()))
        launcher = self.launcher
        if launcher is not None:
            cap, spent = launcher.guard.cap, launcher.guard.spent
            self.query_one("#spend", Static).update(
                f"spend ${spent:,.4f}" + (f" of ${cap:,.4f}" if cap is not None else " (no cap)")
            )
            if cap:
                self.query_one("#spend-gauge", ProgressBar).update(total=cap, progress=min(spent, cap))
        table = self.query_one("#per-model", DataTable)
        for name, count in counts.items():
            if name in table.rows:
                table.update_cell(name, "recorded", count)
