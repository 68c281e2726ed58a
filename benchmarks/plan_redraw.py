"""How fast the Plan mode redraws its chart when a new budget is typed, driven by Textual's Pilot on a
store seeded from the sample runs (not a test). Target: within 100 ms on the sample store.

    .venv/bin/python benchmarks/plan_redraw.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from textual.widgets import Input

from evalbudget.engine.store import open_store
from evalbudget.tui.app import EvalbudgetApp
from evalbudget.tui.screens.plan import PlanScreen

BUDGETS = ["5%", "$100", "20%", "$50", "2%", "$300", "40%", "$25", "10%", "$150"]


async def measure(store: Path) -> list[float]:
    app = EvalbudgetApp(store)
    timings: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PlanScreen) and screen.curves is not None
        field = screen.query_one("#budget", Input)
        for budget in BUDGETS:
            painted = asyncio.Event()
            started = time.perf_counter()
            field.value = budget  # what typing the last character does: Input.Changed -> redraw
            # after the change is handled, the next refresh is the repainted chart
            screen.call_after_refresh(lambda done=painted: screen.call_after_refresh(done.set))
            await painted.wait()
            timings.append((time.perf_counter() - started) * 1000)
            await pilot.pause(0.4)  # let the debounced table simulation start...
            await app.workers.wait_for_complete()  # ...and finish, in its worker
    return timings


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.duckdb"
        open_store(store).close()
        timings = asyncio.run(measure(store))
    median = statistics.median(timings)
    print(
        f"Plan chart redraw after a new budget, swe-bench-verified, {len(timings)} budgets (change to repaint)"
    )
    print("per budget (ms): " + ", ".join(f"{t:.0f}" for t in timings))
    print(f"median {median:.0f} ms, worst {max(timings):.0f} ms: {median / 100:.2f}x the 100 ms target")


if __name__ == "__main__":
    main()
