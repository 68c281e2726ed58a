"""What every mode screen shares: the header, the mode bar, the footer, and failures shown as notifications."""

from __future__ import annotations

from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Select, Static
from textual.worker import Worker, WorkerState

from evalbudget.engine.errors import EvalbudgetError
from evalbudget.engine.info import benchmark_names
from evalbudget.engine.store import SharedStore

MODE_TITLES = (
    ("explore", "1 Explore"),
    ("frontier", "2 Frontier"),
    ("plan", "3 Plan"),
    ("whatif", "4 What-if"),
    ("launch", "5 Launch"),
    ("checkpoints", "6 Checkpoints"),
)


def app_store(app: object) -> SharedStore:
    """The one connection to the store that the app owns (every screen reads and writes through it)."""
    store = getattr(app, "store", None)
    if not isinstance(store, SharedStore):
        raise TypeError("evalbudget's screens run inside EvalbudgetApp, which owns the store")
    return store


def describe(error: BaseException | None) -> str:
    """One sentence for a failure: ours are written for people; others get their type named."""
    if isinstance(error, EvalbudgetError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class ModeScreen(Screen[None]):
    """A mode: the mode bar on top, its body, the footer with its bindings.

    The keys 1-6 switch modes; while a text field has focus they type digits, and escape leaves the field.
    """

    MODE = "explore"
    BINDINGS = [
        Binding(
            "escape",
            "leave_field",
            "Leave field",
            id="field.leave",
            tooltip="Unfocus the text field",
            show=False,
        )
    ]

    def action_leave_field(self) -> None:
        self.set_focus(None)

    @property
    def store_path(self) -> Path | None:
        return getattr(self.app, "store_path", None)

    @property
    def shared_store(self) -> SharedStore:
        """The app's one connection to its store: a worker reads through ``shared_store.reading()``."""
        return app_store(self.app)

    @property
    def history_version(self) -> int:
        """The app's count of changes to the history (runs excluded, included or deleted)."""
        return int(getattr(self.app, "history_version", 0))

    def compose(self) -> ComposeResult:
        yield Header()
        # each title is a link: a click switches mode, as its key does
        bar = "  ".join(
            f"[reverse] {title} [/]"
            if name == self.MODE
            else f"[@click=app.switch_mode('{name}')] {title} [/]"
            for name, title in MODE_TITLES
        )
        yield Static(bar, id="modebar")
        with Vertical(id="body"):
            yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    COMPACT_FOOTER_BELOW = 110
    """Narrower than this, the footer drops its padding so every binding still fits."""

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(Footer).compact = event.size.width < self.COMPACT_FOOTER_BELOW

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(describe(event.worker.error), severity="error", timeout=10)
            self.worker_failed(describe(event.worker.error))

    def worker_failed(self, message: str) -> None:
        """A mode may also show the failure in place."""

    # ---- the benchmark chooser that Frontier, Plan and What-if share ----------------------------------------

    AGGREGATE_BENCHMARKS = False
    """Whether benchmarks with aggregate-only runs (Aider) are offered too."""
    DEFAULT_BENCHMARK = "swe-bench-verified"

    ITEMS_ONLY_BENCHMARKS = False
    """Whether benchmarks with items but no results yet are offered too."""

    @work(thread=True, exclusive=True, exit_on_error=False, group="benchmark-list")
    def load_benchmarks(self) -> None:
        with self.shared_store.reading() as store:
            names = benchmark_names(
                store.conn, aggregate=self.AGGREGATE_BENCHMARKS, items_only=self.ITEMS_ONLY_BENCHMARKS
            )
        self.app.call_from_thread(self.show_benchmarks, names)

    def show_benchmarks(self, names: list[str]) -> None:
        select = self.query_one("#benchmark", Select)
        select.set_options([(n, n) for n in names])
        if self.DEFAULT_BENCHMARK in names:
            select.value = self.DEFAULT_BENCHMARK
        elif names:
            select.value = names[0]
