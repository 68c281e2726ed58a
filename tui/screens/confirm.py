"""A yes-or-no question before something that cannot be undone or that stops work (quitting mid-launch,
deleting a run, starting a launch): y or enter says yes, n or escape says no."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class Confirm(ModalScreen[bool]):
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, yes: str = "yes", no: str = "no") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(self.question, id="confirm-question")
            yield Static(f"[b]y[/b]/enter: {self.yes}    [b]n[/b]/escape: {self.no}", id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
