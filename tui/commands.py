"""The command palette: one provider, commands named "area: verb"."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from evalbudget.tui.screens.base import MODE_TITLES


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
            (
                "plan: save",
                partial(app.run_action, "save_plan_from_palette"),
                "Write the recommended plan to a file",
            ),
            ("store: reload", partial(app.run_action, "reload_store"), "Read the store again"),
            (
                "plan: candidates",
                partial(app.run_action, "in_mode('plan', 'pick_candidates')"),
                "Pick the models to rank",
            ),
            (
                "plan: saved plans",
                partial(app.run_action, "in_mode('plan', 'browse_plans')"),
                "Plans saved; launch one",
            ),
            (
                "explore: runs",
                partial(app.run_action, "in_mode('explore', 'open_runs')"),
                "Exclude or delete runs",
            ),
            (
                "explore: results",
                partial(app.run_action, "in_mode('explore', 'open_results')"),
                "A launched plan's leaderboard",
            ),
            (
                "launch: load items",
                partial(app.run_action, "in_mode('launch', 'load_items')"),
                "The benchmark's items (JSONL)",
            ),
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
