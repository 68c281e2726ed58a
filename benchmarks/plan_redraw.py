"""How fast the Plan mode redraws its chart when a new budget is typed, driven by Textual's Pilot on a
store seeded from the sample runs (not a test). Target: a median within 50 ms on the sample store.

The baseline, measured in the same run, is the floor Textual and plotext set: a bare app holding one input
and one PlotextPlot of the same size, replotting the same curves and budget line on every change. The ratio
says what the Plan mode adds to that floor.

    .venv/bin/python benchmarks/plan_redraw.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Input
from textual_plotext import PlotextPlot

from evalbudget.engine.sim import SimulationReport
from evalbudget.engine.store import open_store
from evalbudget.tui.app import EvalbudgetApp
from evalbudget.tui.screens.plan import PlanScreen

BUDGETS = ["5%", "$100", "20%", "$50", "2%", "$300", "40%", "$25", "10%", "$150"]
TARGET_MS = 50


async def time_changes(app: App[object], screen: Widget, field: Input, settle: float) -> list[float]:
    """Change to repaint for each budget: after the change is handled, the next refresh is the new chart."""
    timings: list[float] = []
    for budget in BUDGETS:
        painted = asyncio.Event()
        started = time.perf_counter()
        field.value = budget  # what typing the last character does: Input.Changed -> redraw
        screen.call_after_refresh(lambda done=painted: screen.call_after_refresh(done.set))
        await painted.wait()
        timings.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(settle)  # let the debounced table simulation start...
        await app.workers.wait_for_complete()  # ...and finish, in its worker...
        shown = asyncio.Event()  # ...and its table be laid out and painted, as before a person's next key
        screen.call_after_refresh(lambda done=shown: screen.call_after_refresh(done.set))
        await shown.wait()
    return timings


async def measure(store: Path) -> tuple[list[float], SimulationReport]:
    app = EvalbudgetApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PlanScreen) and screen.curves is not None
        timings = await time_changes(app, screen, screen.query_one("#budget", Input), 0.4)
        return timings, screen.curves


class BareChart(App[None]):
    """The floor: an input and the same chart, replotted on every change."""

    def __init__(self, curves: SimulationReport, width: int) -> None:
        super().__init__()
        self.curves, self.width = curves, width

    def compose(self) -> ComposeResult:
        yield Input(value="10%", id="budget")
        yield PlotextPlot(id="chart")

    def on_mount(self) -> None:
        self.query_one(PlotextPlot).styles.width = self.width

    def on_input_changed(self) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xscale("log")
        for name in dict.fromkeys(r.strategy for r in self.curves.results):
            points = [
                (r.cost_usd.mean, r.kendall_tau.mean) for r in self.curves.results if r.strategy == name
            ]
            points = [(c, t) for c, t in points if t == t]
            if points:
                plt.plot([c for c, _ in points], [t for _, t in points], marker="braille")
        plt.vline(200.0, color="red")
        plot.refresh()


async def measure_bare(curves: SimulationReport) -> list[float]:
    app = BareChart(curves, width=72)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        return await time_changes(app, app.screen, app.query_one("#budget", Input), 0.05)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.duckdb"
        open_store(store).close()
        timings, curves = asyncio.run(measure(store))
    bare = asyncio.run(measure_bare(curves))
    median, floor = statistics.median(timings), statistics.median(bare)
    print(
        f"Plan chart redraw after a new budget, swe-bench-verified, {len(timings)} budgets (change to repaint)"
    )
    print("evalbudget Plan mode (ms): " + ", ".join(f"{t:.0f}" for t in timings))
    print("bare Textual + plotext (ms): " + ", ".join(f"{t:.0f}" for t in bare))
    print(
        f"median {median:.0f} ms (worst {max(timings):.0f}) against the floor's {floor:.0f} ms: "
        f"{median / floor:.2f}x the floor; target {TARGET_MS} ms: {'met' if median <= TARGET_MS else 'missed'}"
    )


if __name__ == "__main__":
    main()
