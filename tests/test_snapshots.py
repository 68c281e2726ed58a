"""SVG snapshots of every mode at 120x40 (pytest-textual-snapshot), on a store at a fixed path so that the
screens are the same on every run; simulations are seeded. Update with `pytest --snapshot-update` after a
deliberate change to the screens, and look at the new SVGs before committing them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tui.app import EvalbudgetApp

FIXED = Path("/tmp/evalbudget-snapshots/store.duckdb")


@pytest.fixture
def fixed_store(seeded_store_template: Path) -> Iterator[Path]:
    FIXED.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(seeded_store_template, FIXED)
    yield FIXED
    FIXED.unlink(missing_ok=True)


def settle_after(*keys: str):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[int]) -> None:
        for key in keys:
            await pilot.press(key)
        for _ in range(4):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.4)  # debounced work starts, then finishes
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


# What-if (4) is left out for now: its SVG's content is the same on every run, but Rich's hashed style ids in
# it are not, so the comparison is flaky; Pilot tests cover that mode.
@pytest.mark.parametrize("key", ["1", "2", "3", "5"])
def test_mode_snapshot(snap_compare, fixed_store: Path, key: str) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(EvalbudgetApp(fixed_store), terminal_size=(120, 40), run_before=settle_after(key))
