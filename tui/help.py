"""The help screen on `?`: what the modes are, and every key of the mode it was opened from."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

MODES = """[b]1[/b] Explore    the store at a glance; benchmarks, their models, runs and launched plans' results
[b]2[/b] Frontier   cost per item vs accuracy; Pareto-optimal points joined
[b]3[/b] Plan       a budget ($50, 12 gpu-h, 5%); every strategy's tau vs cost; the plan to save
[b]4[/b] What-if    prices, discounts, cache hits and caps against the baseline
[b]5[/b] Launch     run a saved plan (replay, endpoint, vLLM, Inspect) under a spend cap
[b]6[/b] Checkpoints  which checkpoints of a training run to evaluate; the predicted band for the rest"""

FOOTER = """[b]ctrl+p[/b] command palette   [b]?[/b] this help   [b]q[/b] quit (asks first while a launch runs)
Every figure comes from the store; an unknown cost is shown as unknown, never $0.
Press escape to close."""


def bindings_of(screen: Screen[object]) -> list[Binding]:
    """The screen's own keys, its class's first, then those it inherits (each key once)."""
    seen: set[str] = set()
    found: list[Binding] = []
    for cls in type(screen).__mro__:
        for binding in vars(cls).get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.key not in seen:
                seen.add(binding.key)
                found.append(binding)
    return found


def help_text(screen: Screen[object] | None, title: str) -> str:
    lines = ["[b]evalbudget[/b]: a budget explorer for AI evaluations", "", MODES, ""]
    if screen is not None:
        keys = bindings_of(screen)
        if keys:
            lines.append(f"[b]Keys in {title}[/b]")
            for binding in keys:
                key = binding.key_display or binding.key.replace("slash", "/").replace("escape", "esc")
                about = binding.tooltip or binding.description
                lines.append(
                    f"  [b]{key:<8}[/b] {binding.description}"
                    + (f": {about}" if about != binding.description else "")
                )
            lines.append("")
    lines.append(FOOTER)
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close", tooltip="Close the help")
    ]

    def __init__(self, screen: Screen[object] | None = None, title: str = "this mode") -> None:
        super().__init__()
        self.for_screen = screen
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Static(help_text(self.for_screen, self.title_text), id="help")
