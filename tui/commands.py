"""The command palette: one provider, commands named "area: verb"."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from evalbudget.tui.screens.base import MODE_TITLES

IN_MODE = (
    ("plan: save", "plan", "save_plan", "Write the plan shown to a file"),
    ("plan: candidates", "plan", "pick_candidates", "Pick the models to rank"),
    ("plan: saved plans", "plan", "browse_plans", "Plans saved; launch one"),
    ("explore: runs", "explore", "open_runs", "Exclude or delete runs"),
    ("explore: results", "explore", "open_results", "A launched plan's leaderboard"),
    ("launch: load items", "launch", "load_items", "The benchmark's items (JSONL)"),
    ("checkpoints: save", "checkpoints", "save_plan", "Write the checkpoint plan shown to a file"),
)
"""Commands that open a mode and run one of its actions there: (name, mode, action, help)."""


class EvalbudgetCommands(Provider):
    def commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        found: list[tuple[str, object, str]] = [
            (
                f"mode: {title.split(' ', 1)[1].lower()}",
                partial(app.switch_mode, name),
                f"Open {title.split(' ', 1)[1]}",
            )
            for name, title in MODE_TITLES
        ]
        found += [
            (name, partial(app.run_action, f"in_mode('{mode}', '{action}')"), help_text)
            for name, mode, action, help_text in IN_MODE
        ]
        found += [
            ("store: reload", partial(app.run_action, "reload_store"), "Read the store again"),
            (
                "launch: cancel",
                partial(app.run_action, "cancel_launch"),
                "Stop starting requests; keep what finished",
            ),
            ("app: help", partial(app.run_action, "help"), "Show the keys"),
            ("theme: light", partial(setattr, app, "theme", "textual-light"), "Light colours"),
            ("theme: dark", partial(setattr, app, "theme", "textual-dark"), "Dark colours"),
        ]
        return found

    async def discover(self) -> Hits:
        """Every command, listed before anything is typed."""
        for name, callback, help_text in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
