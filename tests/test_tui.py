"""The app, driven by Textual's Pilot on a real seeded store."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static
from textual.worker import WorkerFailed

from tui.app import EvalbudgetApp


async def test_explore_shows_the_store(store_path: Path) -> None:
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.info is not None and app.info.rollouts >= 60_000
        table = app.query_one("#benchmarks", DataTable)
        benchmarks = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert benchmarks[:4] == [
            "alpaca-eval-2",
            "swe-bench-verified",
            "metr-hcast-rebench",
            "swe-bench-pro-public",
        ]
        metr = table.get_row("metr-hcast-rebench")
        assert metr[4] == "unknown"  # no AI cost published: never shown as $0
        summary = str(app.query_one("#summary", Static).render())
        assert "66,764 rollouts" in summary
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_a_store_that_cannot_be_opened_is_a_notification(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-store.duckdb"
    bad.write_text("this is not a DuckDB file")
    app = EvalbudgetApp(bad)
    async with app.run_test(size=(80, 24)) as pilot:
        with pytest.raises(WorkerFailed):  # the worker fails; the app must stay up and say why
            await app.workers.wait_for_complete()
        await pilot.pause()
        summary = str(app.query_one("#summary", Static).render())
        assert "could not be opened" in summary
        assert any("could not be opened" in str(n.message) for n in app._notifications)
