"""The evalbudget app: six modes over the store, switched with the keys 1-6.

Explore (the store at a glance), Frontier (cost vs accuracy), Plan (strategies' fidelity per dollar and the
recommended plan), What-if (prices and caps against the baseline), Launch (run a plan under a spend cap) and
Checkpoints (which checkpoints of a training run to evaluate).
Each mode owns its workers; DuckDB and simulation work runs in thread workers, never on the event loop.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.worker import WorkerState

from evalbudget.engine.launch import Launcher
from evalbudget.engine.store import SharedStore
from evalbudget.tui.commands import EvalbudgetCommands
from evalbudget.tui.help import HelpScreen
from evalbudget.tui.screens.base import MODE_TITLES
from evalbudget.tui.screens.checkpoints import CheckpointsScreen
from evalbudget.tui.screens.confirm import Confirm
from evalbudget.tui.screens.explore import ExploreScreen
from evalbudget.tui.screens.frontier import FrontierScreen
from evalbudget.tui.screens.launch import LaunchScreen
from evalbudget.tui.screens.plan import PlanScreen
from evalbudget.tui.screens.whatif import WhatIfScreen


class EvalbudgetApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "evalbudget"
    MODES = {
        "explore": ExploreScreen,
        "frontier": FrontierScreen,
        "plan": PlanScreen,
        "whatif": WhatIfScreen,
        "launch": LaunchScreen,
        "checkpoints": CheckpointsScreen,
    }
    COMMANDS = App.COMMANDS | {EvalbudgetCommands}
    # the mode keys are on the mode bar, so the footer keeps its room for each mode's own keys, help and quit
    BINDINGS = [
        Binding(
            "1",
            "switch_mode('explore')",
            "Explore",
            id="mode.explore",
            tooltip="The store at a glance",
            show=False,
        ),
        Binding(
            "2",
            "switch_mode('frontier')",
            "Frontier",
            id="mode.frontier",
            tooltip="Cost vs accuracy",
            show=False,
        ),
        Binding(
            "3",
            "switch_mode('plan')",
            "Plan",
            id="mode.plan",
            tooltip="Strategies within a budget",
            show=False,
        ),
        Binding(
            "4", "switch_mode('whatif')", "What-if", id="mode.whatif", tooltip="Prices and caps", show=False
        ),
        Binding("5", "switch_mode('launch')", "Launch", id="mode.launch", tooltip="Run a plan", show=False),
        Binding(
            "6",
            "switch_mode('checkpoints')",
            "Checkpoints",
            id="mode.checkpoints",
            tooltip="Which checkpoints of a training run to evaluate",
            show=False,
        ),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Keys and modes"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave evalbudget"),
    ]

    def __init__(self, store_path: Path | None = None) -> None:
        super().__init__()
        self.store_path = store_path
        self.store = SharedStore(store_path)
        """One connection for the whole app; each worker reads through a cursor of it."""
        self.launches: set[Launcher] = set()
        """Launches running now (Launch mode adds and removes them): quitting cancels them first."""
        self.last_plan_path: Path | None = None
        self.history_version = 0
        """Bumped when a run is excluded, included or deleted: modes showing history read it again."""
        self.saved_plans: list[Path] = []
        """Plans saved in this session (the plans browser lists them wherever they are)."""

    def on_mount(self) -> None:
        self.switch_mode("explore")

    async def action_quit(self) -> None:
        """Quit; with a launch running, only once the user says so: then it starts nothing more, and what is in
        flight is recorded before the store closes (on unmount)."""
        running = self.launches or any(
            w.group == "launch" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.workers
        )
        if not running:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                for launcher in list(self.launches):
                    launcher.cancel()
                self.exit()

        self.push_screen(
            Confirm(
                "A launch is running. Quit anyway? It starts no more requests; those in flight finish and are "
                "recorded, and a rerun of the plan resumes where it stopped.",
                yes="quit",
                no="keep running",
            ),
            answered,
        )

    def on_unmount(self) -> None:
        self.store.close()

    def action_help(self) -> None:
        screen = self.screen
        mode = getattr(screen, "MODE", None)
        title = next((t.split(" ", 1)[1] for name, t in MODE_TITLES if name == mode), "this screen")
        self.push_screen(HelpScreen(screen, title))

    def action_reload_store(self) -> None:
        if isinstance(self.screen, ExploreScreen):
            self.screen.action_reload()

    async def action_in_mode(self, mode: str, action: str) -> None:
        """Switch to ``mode`` and run one of its actions there (the palette's commands)."""
        await self.switch_mode(mode)
        await self.screen.run_action(action)

    def action_cancel_launch(self) -> None:
        if isinstance(self.screen, LaunchScreen):
            self.screen.action_cancel()


def run_app(store_path: Path | None = None) -> int:
    """Run the app; its exit status is non-zero when it ended on an error (Textual printed it)."""
    app = EvalbudgetApp(store_path)
    app.run()
    return app.return_code or 0
