"""A file picker: the folders under where the app was started, showing only the files of the kinds asked for;
enter on a file chooses it, or a path can be typed."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Static


class FilesTree(DirectoryTree):
    """Folders (not hidden) and the files whose suffix is wanted."""

    def __init__(self, path: Path, suffixes: tuple[str, ...], **kwargs: object) -> None:
        super().__init__(path, **kwargs)  # type: ignore[arg-type]
        self.suffixes = suffixes

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in self.suffixes)
        ]


class FilePicker(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="files.cancel", tooltip="Choose nothing")]

    def __init__(self, title: str, suffixes: tuple[str, ...], start: Path | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.suffixes = suffixes
        self.start = start or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical(id="files-dialog"):
            yield Static(f"[b]{self.title_text}[/b] ({', '.join(self.suffixes)} files under {self.start})")
            yield Input(placeholder="or type a path and press enter", id="files-path")
            yield FilesTree(self.start, self.suffixes, id="files-tree")
            yield Static("[dim]enter on a file: choose it   escape: cancel[/]")

    def on_mount(self) -> None:
        self.query_one("#files-tree", FilesTree).focus()

    @on(DirectoryTree.FileSelected, "#files-tree")
    def _file(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(Path(event.path))

    @on(Input.Submitted, "#files-path")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(Path(event.value.strip()).expanduser())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
