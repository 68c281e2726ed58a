"""The candidate picker of Plan mode: the benchmark's models, found by fuzzy search, ticked on or off; a model
the store has no results for is added as new; and, where the benchmark has no token counts, the stored model
new ones cost like. Closing with enter returns the choice; escape leaves it as it was."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from evalbudget.engine.candidates import NEW, matches

ADD_NEW = "\x00new"
"""The value of the list's last line, "add X as a new model" (no model is named so)."""


@dataclass(frozen=True)
class Picked:
    """What the picker returns: candidates as the plan field writes them (``new:`` for new models), and the
    stored model new ones cost like (None: from token counts)."""

    names: list[str]
    cost_like: str | None


class CandidatePicker(ModalScreen[Picked | None]):
    BINDINGS = [
        Binding("escape", "dismiss_none", "Cancel", id="picker.cancel", tooltip="Close, changing nothing"),
        Binding("ctrl+s", "done", "Use these", id="picker.done", tooltip="Plan for the ticked candidates"),
        Binding("down", "to_list", "To the list", show=False),
    ]

    def __init__(
        self,
        benchmark: str,
        models: list[str],
        chosen: list[str],
        cost_like: str | None,
        needs_cost_like: bool,
    ) -> None:
        super().__init__()
        self.benchmark = benchmark
        self.models = models
        self.chosen: list[str] = list(chosen)
        """Ticked names, in the order they were ticked (new models with their ``new:``)."""
        self.cost_like = cost_like
        self.needs_cost_like = needs_cost_like

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-dialog"):
            yield Static(
                f"[b]Candidates on {self.benchmark}[/b]: type to search its {len(self.models)} models, or add "
                "a new one",
                id="picker-title",
            )
            yield Input(placeholder="search, e.g. gpt-5-mini", id="picker-search")
            yield SelectionList[str](id="picker-list")
            with Horizontal(id="picker-like-row"):
                yield Label("new models cost like", id="picker-like-label")
                yield Select[str](
                    [(m, m) for m in self.models],
                    prompt="(pick a stored model)",
                    value=self.cost_like if self.cost_like in self.models else Select.NULL,
                    id="picker-like",
                )
            yield Static("", id="picker-chosen")
            yield Static(
                "[dim]down: to the list   space: tick   enter: use the ticked ones   escape: cancel[/]",
                id="picker-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#picker-like-row").display = self.needs_cost_like
        self.fill("")
        self.show_chosen()

    def fill(self, text: str) -> None:
        """The models that match ``text`` (all of them for none), ticked as chosen; then the typed name as a new
        model where no stored model is exactly it."""
        shown = matches(text, self.models, limit=len(self.models)) if text.strip() else self.models
        new = [c for c in self.chosen if c.startswith(NEW)]
        new = [c for c in new if not text.strip() or matches(text, [c[len(NEW) :]])]
        listing = self.query_one("#picker-list", SelectionList)
        listing.clear_options()
        listing.add_options([Selection(f"{name} (new)", name, True) for name in new])
        listing.add_options([Selection(name, name, name in self.chosen) for name in shown])
        name = text.strip()
        if name and name not in self.models and f"{NEW}{name}" not in self.chosen:
            listing.add_option(
                Selection(f"+ add '{name}' as a new model (no results here yet)", ADD_NEW, False)
            )

    def show_chosen(self) -> None:
        shown = ", ".join(self.chosen) if self.chosen else "none yet (none ticked plans for every model)"
        self.query_one("#picker-chosen", Static).update(f"[b]chosen[/b] ({len(self.chosen)}): {shown}")

    @on(Input.Changed, "#picker-search")
    def _search(self, event: Input.Changed) -> None:
        self.fill(event.value)

    @on(Input.Submitted, "#picker-search")
    def _submitted(self) -> None:
        self.action_done()

    @on(SelectionList.SelectionToggled, "#picker-list")
    def _toggled(self, event: SelectionList.SelectionToggled[str]) -> None:
        value = event.selection.value
        if value == ADD_NEW:
            name = self.query_one("#picker-search", Input).value.strip()
            self.chosen.append(f"{NEW}{name}")
            self.query_one("#picker-search", Input).value = ""  # refills the list
        elif value in self.chosen:
            self.chosen.remove(value)
        else:
            self.chosen.append(value)
        self.show_chosen()

    @on(Select.Changed, "#picker-like")
    def _like(self, event: Select.Changed) -> None:
        self.cost_like = event.value if isinstance(event.value, str) else None

    def action_to_list(self) -> None:
        if self.focused is self.query_one("#picker-search", Input):
            listing = self.query_one("#picker-list", SelectionList)
            listing.focus()
            if listing.option_count and listing.highlighted is None:
                listing.highlighted = 0  # the best match, ready to tick

    def action_done(self) -> None:
        self.dismiss(Picked(list(self.chosen), self.cost_like))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
