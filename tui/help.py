"""The help screen on `?`."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """[b]evalbudget[/b]: a budget explorer for AI evaluations

[b]1[/b] Explore    the store at a glance; benchmarks and their models (type to filter)
[b]2[/b] Frontier   cost per item vs accuracy; Pareto-optimal points joined
[b]3[/b] Plan       a budget ($50, 12 gpu-h, 5%%); every strategy's tau vs cost; [b]s[/b] saves the plan
[b]4[/b] What-if    prices, discounts, cache hits and caps against the baseline
[b]5[/b] Launch     run a saved plan (replay, endpoint, vLLM, Inspect) under a spend cap; [b]c[/b] cancels

[b]ctrl+p[/b] command palette   [b]?[/b] this help   [b]q[/b] quit

Every figure comes from the store; an unknown cost is shown as unknown, never $0.
Press escape to close."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close", tooltip="Close the help")
    ]

    def compose(self) -> ComposeResult:
        yield Static(HELP.replace("%%", "%"), id="help")
