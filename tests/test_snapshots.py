"""SVG snapshots of every mode at 120x40 and 80x24 (pytest-textual-snapshot). Each test opens its own copy of the seeded
store by a relative path from its own working directory, so the screens show the same path on every run and
no two runs share a file; simulations are seeded. Update with `pytest --snapshot-update` after a deliberate
change to the screens, and look at the new SVGs before committing them."""

from __future__ import annotations

import difflib
import html
import pickle
import re
import shutil
import time
from pathlib import Path

import pytest
from pytest_textual_snapshot import node_to_report_path
from textual.pilot import Pilot

from evalbudget.tui.app import EvalbudgetApp

STORE = Path("store.duckdb")
SETTLE_TIMEOUT_S = 60.0


@pytest.fixture
def relative_store(seeded_store_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copyfile(seeded_store_template, tmp_path / STORE)
    monkeypatch.chdir(tmp_path)
    return STORE


def settle_after(*keys: str):  # type: ignore[no-untyped-def]
    """Press ``keys``, then wait until the app has been idle (no worker pending or running, so no debounce
    timer left to start one) for a second: on a slow or busy machine this waits longer, never shorter."""

    async def run_before(pilot: Pilot[int]) -> None:
        for key in keys:
            await pilot.press(key)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        quiet = 0
        while quiet < 5:
            assert time.monotonic() < deadline, "the app did not settle within a minute"
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.2)
            busy = any(not worker.is_finished for worker in pilot.app.workers)
            quiet = 0 if busy else quiet + 1
        await pilot.pause()

    return run_before


def screen_text(svg: str) -> list[str]:
    """The characters of a snapshot SVG, a line per terminal row (colours left out)."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for match in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        x, y, chars = float(match[1]), float(match[2]), html.unescape(match[3]).replace("\xa0", " ")
        rows.setdefault(y, []).append((x, chars))
    return ["".join(chars for _, chars in sorted(row)).rstrip() for _, row in sorted(rows.items())]


@pytest.fixture
def screen_matches(snap_compare, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """snap_compare, with the screen's text diff in the failure message: CI keeps the output, not the report."""

    def compare(key: str, size: tuple[int, int], relative_store: Path) -> None:
        if snap_compare(EvalbudgetApp(relative_store), terminal_size=size, run_before=settle_after(key)):
            return
        _, expected, actual, *_ = pickle.loads(node_to_report_path(request.node).read_bytes())
        diff = difflib.unified_diff(
            screen_text(expected), screen_text(actual), "snapshot", "screen", lineterm=""
        )
        pytest.fail("the screen differs from its snapshot:\n" + "\n".join(diff))

    return compare


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "6"])
def test_mode_snapshot(screen_matches, relative_store: Path, key: str) -> None:  # type: ignore[no-untyped-def]
    screen_matches(key, (120, 40), relative_store)


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "6"])
def test_mode_snapshot_at_80x24(screen_matches, relative_store: Path, key: str) -> None:  # type: ignore[no-untyped-def]
    """The smallest terminal every mode must be usable at: the footer keeps help and quit in view."""
    screen_matches(key, (80, 24), relative_store)
