"""The app, driven by Textual's Pilot on real seeded stores: every mode's main flow."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest
from textual.widgets import DataTable, Input, Label, ProgressBar, Select, SelectionList, Static
from textual.worker import WorkerFailed

from evalbudget.engine.launch.options import BACKEND_LABELS
from evalbudget.engine.launch.setup import read_plan
from evalbudget.engine.plan import Plan
from evalbudget.engine.results import plan_results
from evalbudget.tui.app import EvalbudgetApp
from evalbudget.tui.screens.candidates import CandidatePicker
from evalbudget.tui.screens.checkpoints import CheckpointsScreen
from evalbudget.tui.screens.confirm import Confirm
from evalbudget.tui.screens.explore import ExploreScreen
from evalbudget.tui.screens.files import FilePicker
from evalbudget.tui.screens.frontier import FrontierScreen
from evalbudget.tui.screens.launch import LaunchScreen
from evalbudget.tui.screens.plan import PlanScreen
from evalbudget.tui.screens.plans import PlansScreen
from evalbudget.tui.screens.results import ResultsScreen
from evalbudget.tui.screens.runs import RunsScreen
from evalbudget.tui.screens.whatif import WhatIfScreen
from tests.conftest import PRICES, planned, run_cli, write_items, write_plan
from tests.fault_server import Script, fault_server

ModeT = TypeVar("ModeT")


async def settle(app: EvalbudgetApp, pilot: object) -> None:
    """Wait for every worker, then for the messages they posted."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]


async def open_mode(app: EvalbudgetApp, pilot: object, key: str, kind: type[ModeT]) -> ModeT:
    """Press a mode's key, wait for its first load, and return its screen."""
    await pilot.press(key)  # type: ignore[attr-defined]
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


async def launch_mode(app: EvalbudgetApp, pilot: object) -> LaunchScreen:
    """Switch to Launch mode (key 5) and return its screen."""
    return await open_mode(app, pilot, "5", LaunchScreen)


async def start_launch(app: EvalbudgetApp, pilot: object) -> None:
    """Press Launch and say yes to the plan summary it shows first (a form it refuses shows none)."""
    await pilot.click("#start")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    if isinstance(app.screen, Confirm):
        assert "Start this launch?" in str(app.screen.query_one("#confirm-question", Static).render())
        await pilot.press("y")  # type: ignore[attr-defined]


async def launch_file(app: EvalbudgetApp, pilot: object, plan: Path) -> LaunchScreen:
    """Open Launch mode on the plan file ``plan``, start it with the form's defaults (replay) and wait for it."""
    screen = await launch_mode(app, pilot)
    screen.query_one("#plan", Input).value = str(plan)
    await start_launch(app, pilot)
    await settle(app, pilot)
    return screen


async def test_explore_shows_the_store_and_filters(store_path: Path) -> None:
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert (
            isinstance(screen, ExploreScreen) and screen.info is not None and screen.info.rollouts >= 60_000
        )
        table = screen.query_one("#benchmarks", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == [
            "alpaca-eval-2",
            "swe-bench-verified",
            "metr-hcast-rebench",
            "swe-bench-pro-public",
        ]
        assert table.get_row("metr-hcast-rebench")[4] == "unknown"  # no AI cost published: never $0
        assert "66,764 rollouts" in str(screen.query_one("#summary", Static).render())
        await pilot.press("down")  # highlight swe-bench-verified: its models load beside it
        await settle(app, pilot)
        assert screen.query_one("#models", DataTable).row_count == 24
        await pilot.press("slash", "s", "w", "e")
        await settle(app, pilot)
        assert sorted(str(table.get_row_at(i)[0]) for i in range(table.row_count)) == [
            "swe-bench-pro-public",
            "swe-bench-verified",
            "swebench_verified_mini",
        ]


async def test_keys_one_to_five_reach_every_mode(store_path: Path) -> None:
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        for key, screen_type in (
            ("2", FrontierScreen),
            ("3", PlanScreen),
            ("4", WhatIfScreen),
            ("5", LaunchScreen),
            ("1", ExploreScreen),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen_type), key
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Explore" in str(app.screen.query_one("#help", Static).render())
        await pilot.press("escape")
        await settle(app, pilot)


async def test_frontier_plots_every_model(store_path: Path) -> None:
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, FrontierScreen) and screen.result is not None
        assert screen.result.benchmark == "swe-bench-verified"
        assert screen.query_one("#points", DataTable).row_count == 24
        screen.query_one("#benchmark", Select).value = "aider-polyglot"
        await settle(app, pilot)
        assert screen.result.benchmark == "aider-polyglot" and len(screen.result.points) == 69


async def test_plan_mode_budget_errors_inline_and_saves_a_plan(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVALBUDGET_PLANS_DIR", str(tmp_path / "plans"))
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PlanScreen) and screen.curves is not None and screen.plan is not None
        assert {r.strategy for r in screen.curves.results} >= {"random", "discriminative", "anchor", "irt"}
        assert screen.query_one("#strategies", DataTable).row_count >= 6
        budget = screen.query_one("#budget", Input)
        budget.value = "abc"
        await settle(app, pilot)
        assert "is not one of" in str(screen.query_one("#budget-error", Label).render())
        budget.value = "-5"
        await settle(app, pilot)
        assert screen.budget is None
        budget.value = "$200"
        await pilot.pause(0.5)  # the table's simulation starts once typing pauses
        await settle(app, pilot)
        assert str(screen.query_one("#budget-error", Label).render()) == ""
        shown = screen.plan
        assert shown is not None and shown.budget == "$200"
        # the plan shown is the plan saved: the table is its alternatives, best first, and the text its strategy
        table = screen.query_one("#strategies", DataTable)
        assert str(table.get_row_at(0)[0]) == shown.strategy == shown.alternatives[0].strategy
        assert f"plan: {shown.strategy} for 24 candidates" in str(
            screen.query_one("#recommendation", Static).render()
        )
        table.focus()
        await pilot.press("s")
        await settle(app, pilot)
        saved = tmp_path / "plans" / "plan-swe-bench-verified.json"  # the plans folder, not the working dir
        plan = Plan.model_validate_json(saved.read_text())
        assert plan.budget == "$200" and plan.budget_units == 200 and len(plan.candidates) == 24
        assert plan.model_dump() == shown.model_dump()
        assert app.last_plan_path == saved and not (tmp_path / "plan-swe-bench-verified.json").exists()
        # where the user says, for the candidates the user names
        screen.query_one(
            "#candidates", Input
        ).value = "o3 (2025-04-16), Minimax M2, gpt-oss-120b, Kimi K2 Instruct"
        screen.query_one("#save-path", Input).value = str(tmp_path / "mine" / "four.json")
        await pilot.pause(0.5)  # the plan for the new candidates is made once typing pauses
        await settle(app, pilot)
        screen.query_one("#strategies", DataTable).focus()
        await pilot.press("s")
        await settle(app, pilot)
        mine = Plan.model_validate_json((tmp_path / "mine" / "four.json").read_text())
        assert [str(c) for c in mine.candidates] == [
            "o3 (2025-04-16)",
            "Minimax M2",
            "gpt-oss-120b",
            "Kimi K2 Instruct",
        ]


async def test_journey_rank_three_candidates_for_100_dollars(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journey 1: "I have $100: rank my 3 candidates on SWE-bench Verified". The candidates are picked by
    fuzzy search, one of them a model with no results (costed like a stored model, the benchmark having no
    token counts); the plan saved where the user says is the plan shown."""
    monkeypatch.setenv("EVALBUDGET_PLANS_DIR", str(tmp_path / "plans"))
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_mode(app, pilot, "3", PlanScreen)
        screen.query_one("#budget", Input).focus()
        await pilot.press(*["backspace"] * 3, *"$100", "escape")
        await pilot.press("c")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, CandidatePicker)
        search = picker.query_one("#picker-search", Input)
        listing = picker.query_one("#picker-list", SelectionList)
        await pilot.press(*"gpt-5-mini")
        assert listing.get_option_at_index(0).value == "GPT-5 mini (2025-08-07) (medium reasoning)"
        await pilot.press("down", "space")  # tick the best match
        search.focus()
        search.value = ""
        await pilot.press(*"o3")
        await pilot.press("down", "space")
        search.focus()
        search.value = ""
        await pilot.press(*"claude-sonnet-4-5", "down", "end", "space")  # the last line adds it as new
        assert picker.chosen == [
            "GPT-5 mini (2025-08-07) (medium reasoning)",
            "o3 (2025-04-16)",
            "new:claude-sonnet-4-5",
        ]
        assert picker.query_one("#picker-like-row").display  # SWE-bench Verified has no token counts
        picker.query_one("#picker-like", Select).value = "Claude 4 Opus (20250514)"
        search.focus()
        await pilot.press("enter")
        await pilot.pause(0.5)
        await settle(app, pilot)
        assert app.screen is screen
        shown = screen.plan
        assert shown is not None and shown.budget == "$100" and len(shown.candidates) == 3
        assert shown.cost_notes and "like 'Claude 4 Opus (20250514)'" in shown.cost_notes[0]
        text = str(screen.query_one("#recommendation", Static).render())
        assert f"plan: {shown.strategy} for 3 candidates at $100" in text and "like 'Claude 4 Opus" in text
        screen.query_one("#save-path", Input).value = str(tmp_path / "mine" / "three.json")
        screen.query_one("#strategies", DataTable).focus()
        await pilot.press("s")
        await settle(app, pilot)
        saved = Plan.model_validate_json((tmp_path / "mine" / "three.json").read_text())
        assert saved.model_dump() == shown.model_dump()  # the plan saved is the plan shown
        # the plans browser lists it (saved outside the plans folder); enter takes it to Launch
        await pilot.press("p")
        await settle(app, pilot)
        plans = app.screen
        assert isinstance(plans, PlansScreen)
        table = plans.query_one("#plans-table", DataTable)
        assert table.row_count == 1 and table.get_row_at(0)[1:4] == [
            "swe-bench-verified",
            shown.strategy,
            "$100",
        ]
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, LaunchScreen)
        assert app.screen.query_one("#plan", Input).value == str((tmp_path / "mine" / "three.json").resolve())


async def test_a_budget_in_gpu_hours_plans_in_the_gpu_chosen_beside_it(store_path: Path) -> None:
    """The budget field offers "12 gpu-h": it works from the app, in the GPU type chosen beside it."""
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_mode(app, pilot, "3", PlanScreen)
        assert screen.query_one("#gpu-type", Select).value == "H100" and screen.gpu_type == "H100"
        screen.query_one("#budget", Input).value = "12 gpu-h"
        await pilot.pause(0.5)
        await settle(app, pilot)
        assert screen.plan is not None and screen.plan.budget == "12 gpu-h", screen.query_one(
            "#recommendation", Static
        ).render()
        h100 = screen.plan.budget_units
        screen.query_one("#gpu-type", Select).value = "A100"
        await pilot.pause(0.5)
        await settle(app, pilot)
        assert screen.plan is not None and screen.plan.budget_units != h100  # another card, another $ budget


async def test_plan_mode_plans_for_the_split_and_objective_chosen(store_path: Path) -> None:
    """The split (strongest held out, as for new frontier models) and the objective are chosen in Plan: the
    curves are simulated again with the split, and the plan shown is made for both."""
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_mode(app, pilot, "3", PlanScreen)
        # auto: the curves are the store's own models, simulated as any of them (random)
        assert screen.curves is not None and screen.curves.holdout_split == "random"
        assert screen.query_one("#split", Select).value == "auto"
        screen.query_one("#split", Select).value = "strongest"
        await pilot.pause()
        await settle(app, pilot)
        assert screen.curves.holdout_split == "strongest"
        assert screen.plan is not None and screen.plan.simulation["holdout_split"] == "strongest"
        screen.query_one("#objective", Select).value = "top1"
        await pilot.pause(0.5)
        await settle(app, pilot)
        assert screen.plan is not None and screen.plan.objective == "top1"
        assert screen.plan.simulation["holdout_split"] == "strongest"
        screen.query_one("#objective", Select).value = "separate:0.02"
        screen.query_one("#split", Select).value = "newest"
        await pilot.pause(0.5)
        await settle(app, pilot)
        assert screen.curves.holdout_split == "newest"
        assert screen.plan is not None and screen.plan.objective == "separate"
        assert (
            screen.plan.predicted_fidelity is not None and screen.plan.predicted_fidelity.difference == 0.02
        )
        assert "pairs at least 0.02 apart" in str(screen.query_one("#recommendation", Static).render())
        # AlpacaEval's results carry no dates: the newest split is refused in one sentence on screen
        screen.query_one("#benchmark", Select).value = "alpaca-eval-2"
        # the worker may fail before or while it is awaited: either way the screen says why
        for _ in range(100):
            try:
                await settle(app, pilot)
            except WorkerFailed as failed:
                assert "needs release dates" in str(failed)
            if "needs release dates" in str(screen.query_one("#recommendation", Static).render()):
                break
            await pilot.pause(0.1)
        assert "needs release dates" in str(screen.query_one("#recommendation", Static).render())


async def test_help_lists_every_key_of_the_mode_and_the_palette_every_command(store_path: Path) -> None:
    from textual.command import CommandPalette

    from evalbudget.tui.help import bindings_of
    from evalbudget.tui.screens.base import MODE_TITLES

    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        for key, (_, title) in zip("123456", MODE_TITLES, strict=True):
            await pilot.press(key)
            await pilot.pause()
            mode = app.screen
            await pilot.press("question_mark")
            await pilot.pause()
            shown = str(app.screen.query_one("#help", Static).render())
            assert f"Keys in {title.split(' ', 1)[1]}" in shown
            for binding in bindings_of(mode):
                assert binding.description in shown, (title, binding.key)
            await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause(0.5)
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        listed = palette.query_one("CommandList").option_count  # before anything is typed
        assert listed >= 15
        await pilot.press("escape")
        # the mode bar is clickable: its "3 Plan" goes to Plan
        await pilot.press("1")
        bar = str(app.screen.query_one("#modebar", Static).render())
        await pilot.click("#modebar", offset=(bar.index("3 Plan") + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, PlanScreen)


def arith_items_and_prices(store_path: Path, tmp_path: Path, count: int) -> Path:
    """Load ``count`` arith items into the store; return a config dir whose prices.toml prices model-a/b."""
    from tests.conftest import run_cli

    items = write_items(tmp_path / "items.jsonl", count=count)
    loaded = run_cli("items", "load", str(items), "--benchmark", "arith", "--store", str(store_path))
    assert loaded.returncode == 0, loaded.stderr
    config = tmp_path / "config"
    config.mkdir()
    (config / "prices.toml").write_text(PRICES)
    return config


async def test_plan_mode_plans_a_benchmark_with_items_but_no_results(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app plans like `evalbudget plan`: a benchmark with only items gets a worst-case plan."""
    config = arith_items_and_prices(store_path, tmp_path, count=5)
    monkeypatch.setenv("EVALBUDGET_CONFIG_DIR", str(config))
    monkeypatch.setenv("EVALBUDGET_PLANS_DIR", str(tmp_path / "plans"))
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_mode(app, pilot, "3", PlanScreen)
        screen.query_one("#benchmark", Select).value = "arith"
        await settle(app, pilot)
        assert "no results yet" in str(screen.query_one("#recommendation", Static).render())
        screen.query_one("#budget", Input).value = "$1"
        screen.query_one("#candidates", Input).value = "model-a,model-b"
        screen.query_one("#strategies", DataTable).focus()
        await pilot.press("s")
        await settle(app, pilot)
    plan = Plan.model_validate_json((tmp_path / "plans" / "plan-arith.json").read_text())
    assert plan.cost_basis == "worst-case" and [c.model for c in plan.candidates] == ["model-a", "model-b"]


async def test_whatif_updates_as_values_change(store_path: Path) -> None:
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, WhatIfScreen) and screen.report is not None
        assert screen.report.scenario_cost_usd == pytest.approx(screen.report.baseline_cost_usd)
        screen.query_one("#cost_cap_usd", Input).value = "1"
        await settle(app, pilot)
        assert screen.report.scenario_cost_usd < screen.report.baseline_cost_usd
        assert sum(r.capped_rollouts for r in screen.report.rows) > 500
        screen.query_one("#price", Input).value = "Nobody=1/2"
        await settle(app, pilot)
        assert "not a model on swe-bench-verified" in str(screen.query_one("#scenario-error", Label).render())
        assert screen.query_one("#whatif-results").has_class("stale")  # the numbers shown are not this
        screen.query_one("#price", Input).value = ""
        screen.query_one("#batch_discount", Input).value = "lots"
        await settle(app, pilot)
        error = str(screen.query_one("#scenario-error", Label).render())
        assert error == "The batch discount must be a number, not 'lots'."  # the field as the form names it
        screen.query_one("#batch_discount", Input).value = "2"
        await settle(app, pilot)
        error = str(screen.query_one("#scenario-error", Label).render())
        assert error.startswith("The batch discount") and "--" not in error and "field '" not in error


async def test_journey_what_would_swe_bench_have_cost_at_other_prices(store_path: Path) -> None:
    """Journey 2: "What would SWE-bench Verified have cost at $5/$25 for Claude Opus, with the batch discount?"
    The model is picked from a list; its recorded costs (no token counts) scale by the price ratio, stated;
    a second override and the discount apply at once; a token cap says why it changes nothing."""
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, WhatIfScreen) and screen.report is not None
        base = {r.key: r.baseline_cost_usd for r in screen.report.rows}
        picker = screen.query_one("#price-model", Select)
        picker.value = "Claude 4 Opus (20250514)"  # the picker writes the name into the overrides
        await pilot.pause()
        price = screen.query_one("#price", Input)
        assert price.value == "Claude 4 Opus (20250514)=" and price.has_focus
        await pilot.press(*"5/25")
        picker.value = "o3 (2025-04-16)"
        await pilot.pause()
        await pilot.press(*"1/4")
        screen.query_one("#batch_discount", Input).value = "0.5"
        screen.query_one("#token_cap", Input).value = "1000"
        await settle(app, pilot)
        report = screen.report
        assert set(report.scenario.prices) == {"Claude 4 Opus (20250514)", "o3 (2025-04-16)"}
        rows = {r.key: r.scenario_cost_usd for r in report.rows}
        # Opus 4 lists at $15/$75: a third of its price, then half off
        assert rows["Claude 4 Opus (20250514)"] == pytest.approx(base["Claude 4 Opus (20250514)"] / 3 * 0.5)
        assert rows["Kimi K2 Instruct"] == pytest.approx(base["Kimi K2 Instruct"] * 0.5)  # the discount alone
        assert rows["o3 (2025-04-16)"] < base["o3 (2025-04-16)"] * 0.5  # o3 lists above $1/$4
        notes = str(screen.query_one("#scenario-notes", Static).render())
        assert "scaled by 0.333" in notes and "token cap changes nothing" in notes
        assert not screen.query_one("#whatif-results").has_class("stale")


async def test_launch_a_saved_plan_with_replay(store_path: Path, tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    conn = duckdb.connect(str(store_path), read_only=True)
    items = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT item_id FROM rollouts WHERE benchmark = 'swe-bench-verified' ORDER BY 1 LIMIT 30"
        ).fetchall()
    ]
    conn.close()
    plan_path.write_text(
        json.dumps(
            {
                "benchmark": "swe-bench-verified",
                "budget_units": 1000.0,
                "stages": [{"name": "main", "models": ["o3 (2025-04-16)", "Minimax M2"], "item_ids": items}],
            }
        )
    )
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await launch_file(app, pilot, plan_path)
        assert (
            screen.report is not None
            and screen.report.status == "completed"
            and screen.report.completed == 60
        )
        assert screen.query_one("#per-model", DataTable).row_count == 2
    conn = duckdb.connect(str(store_path), read_only=True)
    (count,) = conn.execute(
        "SELECT count(*) FROM rollouts WHERE run_id = ?", [screen.report.run_id]
    ).fetchone()
    conn.close()
    assert count == 60


async def test_an_adaptive_plan_launches_from_the_app(store_path: Path, tmp_path: Path) -> None:
    """An adaptive plan (each model its own items per stage) runs from Launch mode: its four stages, every
    model with results, the leaderboard shown, and the progress bar full once it has done all it would."""
    plan_path = planned(
        store_path, tmp_path / "adaptive.json", "--benchmark", "swe-bench-verified", "--budget", "5%",
        "--candidates", "o3 (2025-04-16),Kimi K2 Instruct,Minimax M2,Devstral (2512)",
        "--strategy", "adaptive", "--replicates", "20",
    )  # fmt: skip
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await launch_file(app, pilot, plan_path)
        report = screen.report
        assert (
            report is not None and report.status in ("completed", "budget_exhausted") and report.failed == 0
        )
        assert [s["stage"] for s in report.stages] == ["audit", "adaptive 1", "adaptive 2", "adaptive 3"]
        assert screen.query_one("#per-model", DataTable).row_count == 4
        bar = screen.query_one("#progress", ProgressBar)
        assert bar.total == bar.progress == report.completed


async def test_cancel_mid_launch_keeps_every_finished_rollout(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = arith_items_and_prices(store_path, tmp_path, count=40)
    plan = write_plan(tmp_path / "plan.json", [f"q{i}" for i in range(1, 41)])
    app = EvalbudgetApp(store_path)
    with fault_server(Script(delay_s=0.2)) as (url, script):
        monkeypatch.setenv("EVALBUDGET_CONFIG_DIR", str(config))
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await launch_mode(app, pilot)
            screen.query_one("#plan", Input).value = str(plan)
            screen.query_one("#backend", Select).value = "openai"
            screen.query_one("#option-base_url", Input).value = url
            await start_launch(app, pilot)
            while sum(screen.done_by_model.values()) < 6:
                await pilot.pause(0.05)
            screen.query_one("#per-model", DataTable).focus()
            await pilot.press("c")
            await settle(app, pilot)
            report = screen.report
            assert report is not None and report.status == "cancelled"
            assert 6 <= report.completed < 80
    conn = duckdb.connect(str(store_path), read_only=True)
    (count,) = conn.execute("SELECT count(*) FROM rollouts WHERE run_id = ?", [report.run_id]).fetchone()
    conn.close()
    assert count == report.completed == script.requests  # every request that finished was recorded


async def test_journey_launch_it_on_my_endpoint(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journey 3: "Launch it on my endpoint." From the app alone: the benchmark's items loaded with the file
    picker, the endpoint and its API-key variable, the plan summary before anything starts, the launch and its
    leaderboard; then a launch against an endpoint that is down ends in a failed state with its reason."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "prices.toml").write_text(PRICES)
    monkeypatch.setenv("EVALBUDGET_CONFIG_DIR", str(config))
    monkeypatch.setenv("MY_ENDPOINT_KEY", "sk-test-123")
    items = write_items(tmp_path / "items.jsonl", count=8)
    plan = write_plan(tmp_path / "plan.json", [f"q{i}" for i in range(1, 9)])
    monkeypatch.chdir(tmp_path)
    app = EvalbudgetApp(store_path)
    with fault_server() as (url, script):
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await launch_mode(app, pilot)
            screen.query_one("#plan", Input).value = str(plan)
            screen.query_one("#per-model", DataTable).focus()
            await pilot.press("i")  # the items file picker
            await pilot.pause()
            picker = app.screen
            assert isinstance(picker, FilePicker)
            picker.query_one("#files-path", Input).focus()
            await pilot.press(*str(items), "enter")
            await settle(app, pilot)
            assert "9 new and 0 updated items on arith" in str(screen.query_one("#status", Static).render())
            screen.query_one("#backend", Select).value = "openai"
            await pilot.pause()
            screen.query_one("#option-base_url", Input).value = url
            screen.query_one("#option-api_key_env", Input).value = "MY_ENDPOINT_KEY"
            screen.query_one("#option-concurrency", Input).value = "2"
            await pilot.click("#start")
            await pilot.pause()
            summary = app.screen
            assert isinstance(summary, Confirm) and script.requests == 0  # nothing starts before a yes
            text = str(summary.query_one("#confirm-question", Static).render())
            assert "2 models x 8 items" in text and f"OpenAI-compatible API at {url}" in text
            assert "2 at a time" in text and "spending at most $10.0000" in text
            await pilot.press("y")
            await settle(app, pilot)
            while screen.report is None:
                await pilot.pause(0.05)
            await settle(app, pilot)
            assert screen.report.status == "completed" and screen.report.completed == 16
            assert script.authorizations and set(script.authorizations) == {"Bearer sk-test-123"}
            assert screen.query_one("#per-model", DataTable).row_count == 2
            # an endpoint that is down: the launch fails, and says so where the user is looking
            screen.query_one("#option-base_url", Input).value = "http://127.0.0.1:9/v1"
            screen.query_one("#option-retries", Input).value = "0"
            screen.query_one("#plan", Input).value = str(write_plan(tmp_path / "again.json", ["q1", "q2"]))
            await start_launch(app, pilot)
            while screen.report is None or screen.report.run_id == "" or screen.report.completed == 16:
                await pilot.pause(0.05)
            await settle(app, pilot)
            status = str(screen.query_one("#status", Static).render())
            assert status.startswith("failed: 0 recorded, 4 failed") and "could not connect" in status


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
async def test_every_mode_renders_at_80x24(store_path: Path, key: str) -> None:
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(key)
        await settle(app, pilot)
        assert app.screen.query_one("#modebar", Static).region.height == 1
        # help and quit stay in view in the footer, whole, in every mode
        from textual.widgets._footer import FooterKey

        shown = {
            k.description: k.region
            for k in app.screen.query(FooterKey)
            if k.region.width > 0 and k.region.right <= 80
        }
        assert {"Help", "Quit"} <= set(shown), sorted(shown)


async def test_a_store_that_cannot_be_opened_is_a_notification(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-store.duckdb"
    bad.write_text("this is not a DuckDB file")
    app = EvalbudgetApp(bad)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):  # the worker fails; the app must stay up and say why
            with contextlib.suppress(WorkerFailed):
                await app.workers.wait_for_complete()
            await pilot.pause()
            if any("could not be opened" in str(n.message) for n in app._notifications):
                break
        assert any("could not be opened" in str(n.message) for n in app._notifications)
        assert app.is_running


async def test_launch_mode_shows_each_backends_fields_and_refuses_what_is_missing(
    store_path: Path, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path / "plan.json", ["q1"])
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await launch_mode(app, pilot)
        assert list(BACKEND_LABELS) == ["replay", "openai", "vllm", "inspect"]
        screen.query_one("#plan", Input).value = str(plan)
        every = {"max_spend", "concurrency", "prices"}
        http = {"timeout_s", "retries", "max_retry_wait_s", "max_tokens", "temperature"}
        shown = {
            "replay": every,
            "openai": every | http | {"base_url", "api_key_env", "model_map", "ray", "ray_workers"},
            "vllm": every
            | http
            | {
                "model_map",
                "gpus",
                "gpu_type",
                "vllm_command",
                "vllm_args",
                "startup_timeout_s",
                "ray",
                "ray_workers",
            },
            "inspect": every | {"model_map", "inspect_task", "token_limit", "inspect_command"},
        }
        for backend, fields in shown.items():
            screen.query_one("#backend", Select).value = backend
            await pilot.pause()
            visible = {
                str(i.id).removeprefix("option-") for i in screen.query("#launch-options Input") if i.display
            }
            assert visible == fields, backend
        refusals = [
            ("vllm", {}, "The vLLM servers (GPUs) backend needs a GPU type"),
            ("vllm", {"gpu-type": "TPU-v9"}, "has no GPU card"),
            ("inspect", {"inspect-task": "task.py"}, "needs a token limit"),
            (
                "inspect",
                {"inspect-task": "task.py", "token-limit": "many"},
                "token limit should be a valid integer",
            ),
            (
                "openai",
                {"max-spend": "nan"},
                "max spend $ should be a finite number",
            ),
            ("openai", {"model-map": "model-a"}, "must be PLAN_MODEL=SERVED_MODEL"),
            ("openai", {"model-map": "nobody=x"}, "'nobody', which the plan does not run"),
        ]
        for backend, values, expected in refusals:
            for field_id in ("gpu-type", "inspect-task", "token-limit", "model-map", "max-spend"):
                field_name = field_id.replace("-", "_")
                screen.query_one(f"#option-{field_name}", Input).value = values.get(field_id, "")
            screen.query_one("#backend", Select).value = backend
            await pilot.pause(0.3)  # a button ignores a press while its last one still shows
            await start_launch(app, pilot)
            await settle(app, pilot)
            shown_error = str(screen.query_one("#launch-error", Label).render())
            assert expected in shown_error, (backend, values, shown_error)
            assert "--" not in shown_error  # the form's words, not the command line's
            assert screen.report is None  # nothing ran


async def test_launch_with_the_inspect_backend_from_the_app(
    store_path: Path, tmp_path: Path, tiktoken_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import INSPECT_TASK

    task = tmp_path / "task.py"
    task.write_text(INSPECT_TASK)
    config = tmp_path / "config"
    config.mkdir()
    (config / "prices.toml").write_text('[models."mockllm/model"]\ninput_mtok = 1\noutput_mtok = 2\n')
    monkeypatch.setenv("EVALBUDGET_CONFIG_DIR", str(config))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tiktoken_cache))
    plan = write_plan(tmp_path / "plan.json", ["q0", "q1", "q2"], models=("mockllm/model",), budget=1.0)
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await launch_mode(app, pilot)
        screen.query_one("#plan", Input).value = str(plan)
        screen.query_one("#backend", Select).value = "inspect"
        screen.query_one("#option-inspect_task", Input).value = str(task)
        screen.query_one("#option-token_limit", Input).value = "1000"
        await start_launch(app, pilot)
        for _ in range(600):  # inspect starts a process per sample: allow it minutes on a busy machine
            if screen.report is not None or str(screen.query_one("#launch-error", Label).render()):
                break
            await pilot.pause(0.5)
        assert str(screen.query_one("#launch-error", Label).render()) == ""
        report = screen.report
        assert report is not None and report.status == "completed" and report.completed == 3
        gauge = screen.query_one("#spend-gauge", ProgressBar)
        assert gauge.total == 1.0 and 0 < gauge.progress <= 1.0
        assert gauge.progress == pytest.approx(report.spend_usd)
    conn = duckdb.connect(str(store_path), read_only=True)
    (count,) = conn.execute(
        "SELECT count(*) FROM rollouts WHERE run_id = ? AND cost_source = 'priced'", [report.run_id]
    ).fetchone()
    conn.close()
    assert count == 3


async def test_the_palette_switches_to_the_light_theme_and_back(store_path: Path) -> None:
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        for command, theme in (("theme: light", "textual-light"), ("theme: dark", "textual-dark")):
            await pilot.press("ctrl+p")
            await pilot.pause(0.3)
            await pilot.press(*command)
            await pilot.pause(0.5)  # the palette searches as you type
            await pilot.press("enter")
            await pilot.pause(0.3)
            assert app.theme == theme
            assert app.current_theme.dark == (theme == "textual-dark")


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
async def test_every_mode_survives_resizing(store_path: Path, key: str) -> None:
    """Resizing redraws every chart from its data: plotext cannot build a log-scale figure twice."""
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(key)
        await settle(app, pilot)
        for size in ((120, 40), (200, 60), (80, 24)):
            await pilot.resize_terminal(*size)
            await settle(app, pilot)
            assert app.is_running and app.screen.size == size


async def test_a_refilled_table_is_sized_before_its_rows_are_drawn() -> None:
    """A DataTable left to size itself measures on its next idle, and rows it drew before that stay cached at
    the labels' widths (seen as 'Claud' for every model in What-if on a busy machine). replace_rows gives
    every column its width with the rows, so the first drawing is already right."""
    from textual.app import App, ComposeResult

    from evalbudget.tui.table import replace_rows

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="t")

    app = One()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one("#t", DataTable)
        table.add_column("fixed", width=4)
        table.add_columns("model", "$")
        await pilot.pause()
        replace_rows(table, [("abcdefgh", "Claude 4 Opus (20250514)", 1234.5)], keys=["k"])
        widths = [column.width for column in table.ordered_columns]  # before any idle or redraw
        assert widths == [4, 24, 7]  # kept; the widest cell; the float as the table shows it (1234.50)
        assert [column.auto_width for column in table.ordered_columns] == [False, False, False]
        assert table.get_row("k")[1] == "Claude 4 Opus (20250514)"
        await pilot.pause()
        assert "Claude 4 Opus (20250514)" in "".join(str(s.text) for s in table.render_line(1))


async def test_the_app_stays_whole_during_a_long_launch(store_path: Path, tmp_path: Path) -> None:
    """A replay launch of 6,000 rollouts runs while the user goes through every mode and reloads Explore:
    no error, Explore's count grows as the launch records, and every rollout lands. The launch (on its own
    thread) is held at every 2,000th rollout until the test has been round the modes once, so the rounds
    really happen mid-launch however fast the machine."""
    conn = duckdb.connect(str(store_path), read_only=True)
    models = [
        r[0]
        for r in conn.execute(
            "SELECT model FROM rollouts WHERE benchmark = 'alpaca-eval-2' GROUP BY model "
            "HAVING count(DISTINCT item_id) = 805 ORDER BY model LIMIT 15"
        ).fetchall()
    ]
    items = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT item_id FROM items WHERE benchmark = 'alpaca-eval-2' ORDER BY 1 LIMIT 400"
        ).fetchall()
    ]
    (before,) = conn.execute("SELECT count(*) FROM rollouts").fetchone()  # type: ignore[misc]
    conn.close()
    assert len(models) == 15 and len(items) == 400
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(
        Plan(
            benchmark="alpaca-eval-2",
            budget_units=1e6,
            stages=[{"name": "main", "models": models, "item_ids": items}],  # type: ignore[list-item]
        ).model_dump_json()
    )
    app = EvalbudgetApp(store_path)
    errors: list[str] = []
    held, go_on = threading.Event(), threading.Semaphore(0)
    async with app.run_test(size=(120, 40)) as pilot:
        app.notify = lambda message, *a, **k: errors.append(str(message))  # type: ignore[method-assign]
        for key in "12345":  # every mode shown once, its first load done, before the launch starts
            await pilot.press(key)
            await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        count_result = screen.on_result

        def hold_every_2000(unit: object, result: object) -> None:  # on the launch's thread
            count_result(unit, result)  # type: ignore[arg-type]
            if sum(screen.done_by_model.values()) % 2000 == 0:
                held.set()
                go_on.acquire()

        screen.on_result = hold_every_2000  # type: ignore[method-assign]
        screen.query_one("#plan", Input).value = str(plan_path)
        screen.query_one("#option-concurrency", Input).value = "4"
        await start_launch(app, pilot)
        seen: list[tuple[int, int]] = []
        while screen.report is None:
            if not held.is_set():
                await pilot.pause(0.02)
                continue
            for key in "12345":
                await pilot.press(key)
                await pilot.pause(0.05)
            await pilot.press("1")
            explore = app.screen
            assert isinstance(explore, ExploreScreen)
            explore.info = None
            explore.action_reload()
            while explore.info is None:  # read while the launch holds the store open for writing
                await pilot.pause(0.02)
            seen.append((sum(screen.done_by_model.values()), explore.info.rollouts))
            await pilot.press("5")
            held.clear()
            go_on.release()
        assert screen.report.status == "completed" and screen.report.completed == 6000, screen.report
        assert not errors, errors
        assert [done for done, _ in seen] == [2000, 4000, 6000], seen
        assert all(stored >= before + done for done, stored in seen), seen  # recorded before it is counted
        assert screen.query_one("#progress", ProgressBar).progress == 6000
    conn = duckdb.connect(str(store_path), read_only=True)
    assert conn.execute("SELECT count(*) FROM rollouts").fetchone() == (before + 6000,)
    conn.close()


async def test_quitting_mid_launch_keeps_what_finished(store_path: Path, tmp_path: Path) -> None:
    """q during a launch: it is cancelled (nothing new starts), the app waits for what is in flight, every
    rollout it counted is in the store, and the store is let go."""
    conn = duckdb.connect(str(store_path), read_only=True)
    items = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT item_id FROM items WHERE benchmark = 'swe-bench-verified' ORDER BY 1 LIMIT 200"
        ).fetchall()
    ]
    conn.close()
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(
        Plan(
            benchmark="swe-bench-verified",
            budget_units=1e6,
            stages=[{"name": "main", "models": ["o3 (2025-04-16)", "Minimax M2"], "item_ids": items}],  # type: ignore[list-item]
        ).model_dump_json()
    )
    held, go_on = threading.Event(), threading.Semaphore(0)
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await launch_mode(app, pilot)
        count_result = screen.on_result

        def hold_at_100(unit: object, result: object) -> None:
            count_result(unit, result)  # type: ignore[arg-type]
            if sum(screen.done_by_model.values()) == 100:
                held.set()
                go_on.acquire()

        screen.on_result = hold_at_100  # type: ignore[method-assign]
        screen.query_one("#plan", Input).value = str(plan_path)
        await start_launch(app, pilot)
        while not held.is_set():
            await pilot.pause(0.02)
        (launcher,) = app.launches
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)  # q during a launch asks first (the launch is held meanwhile)
        threading.Timer(0.5, go_on.release).start()  # the launch goes on while the app is closing
        await pilot.press("y")
    assert launcher.cancelled and not app.launches
    recorded = sum(screen.done_by_model.values())
    assert 100 <= recorded <= 400 and recorded == launcher.counts["completed"]
    conn = duckdb.connect(str(store_path))  # writable again: nothing holds it
    (stored,) = conn.execute(
        "SELECT count(*) FROM rollouts r JOIN runs USING (run_id) WHERE runs.harness = 'launch:replay'"
    ).fetchone()  # type: ignore[misc]
    conn.close()
    assert stored == recorded


async def test_explore_reads_the_store_again_when_shown(store_path: Path, tmp_path: Path) -> None:
    """An ingest from another terminal while the app is open (the app holds the store only while it reads),
    then back to Explore: the new rollout is counted."""
    from tests.conftest import run_cli

    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        explore = app.screen
        assert isinstance(explore, ExploreScreen) and explore.info is not None
        before = explore.info.rollouts
        table = tmp_path / "more.csv"
        table.write_text("benchmark,item_id,model,score\nb,1,m,1\n")
        assert run_cli("ingest", "--store", str(store_path), str(table)).returncode == 0
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("1")
        await settle(app, pilot)
        assert explore.info.rollouts == before + 1


async def test_a_run_is_excluded_from_the_history_and_deleted_from_explore(
    store_path: Path, tmp_path: Path
) -> None:
    """A test run that cost nothing (a fake endpoint's, say) is a free Pareto point on the frontier; from
    Explore's runs it is left out of the history (the frontier drops it, its rows stay), then deleted after a
    yes (its rows go)."""
    from tests.conftest import run_cli

    fake = tmp_path / "fake-endpoint.csv"
    fake.write_text(
        "benchmark,item_id,model,score,cost_usd\n"
        + "".join(f"swe-bench-verified,{item},fake-model,1,0\n" for item in _some_items(store_path, 20))
    )
    assert run_cli("ingest", "--store", str(store_path), str(fake)).returncode == 0
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        frontier = app.screen
        assert isinstance(frontier, FrontierScreen) and frontier.result is not None
        assert any(p.model == "fake-model" and p.pareto for p in frontier.result.points)  # $0: on the front
        await pilot.press("1")
        await settle(app, pilot)
        await pilot.press("u")
        await settle(app, pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("slash", *"fake-endpoint", "escape")
        runs.query_one("#runs-table", DataTable).focus()
        table = runs.query_one("#runs-table", DataTable)
        assert table.row_count == 1 and table.get_row_at(0)[6] == "yes"
        await pilot.press("x")
        await settle(app, pilot)
        assert table.get_row_at(0)[6] == "excluded"
        await pilot.press("escape", "2")
        await settle(app, pilot)
        assert not any(p.model == "fake-model" for p in frontier.result.points)  # no longer history
        await pilot.press("1", "u")
        await settle(app, pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("slash", *"fake-endpoint", "escape")
        runs.query_one("#runs-table", DataTable).focus()
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")  # not yet: nothing is deleted
        await settle(app, pilot)
        assert runs.query_one("#runs-table", DataTable).row_count == 1
        await pilot.press("d", "y")
        await settle(app, pilot)
        assert runs.query_one("#runs-table", DataTable).row_count == 0
    conn = duckdb.connect(str(store_path), read_only=True)
    (left,) = conn.execute("SELECT count(*) FROM rollouts WHERE model = 'fake-model'").fetchone()  # type: ignore[misc]
    conn.close()
    assert left == 0


def _some_items(store_path: Path, count: int) -> list[str]:
    conn = duckdb.connect(str(store_path), read_only=True)
    rows = conn.execute(
        "SELECT item_id FROM items WHERE benchmark = 'swe-bench-verified' ORDER BY 1 LIMIT ?", [count]
    ).fetchall()
    conn.close()
    return [str(r[0]) for r in rows]


def _planned(store_path: Path, tmp_path: Path) -> Path:
    """A random-items plan for four SWE-bench Verified models, as `evalbudget plan` writes it."""
    return planned(
        store_path, tmp_path / "random.json", "--benchmark", "swe-bench-verified", "--budget", "$30",
        "--candidates", "o3 (2025-04-16),Minimax M2,Kimi K2 Instruct,GLM-4.6 (T=1)", "--strategy", "random",
        "--replicates", "20",
    )  # fmt: skip


async def test_launch_mode_shows_the_estimated_leaderboard_of_what_the_launch_recorded(
    store_path: Path, tmp_path: Path
) -> None:
    plan_path = _planned(store_path, tmp_path)
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await launch_file(app, pilot, plan_path)
        assert screen.report is not None and screen.report.status == "completed"
        table = screen.query_one("#per-model", DataTable)
        for _ in range(100):  # the leaderboard is recomputed every LEADERBOARD_INTERVAL_S
            if str(table.get_row_at(0)[3]):
                break
            await pilot.pause(0.1)
        await settle(app, pilot)
        with app.store.reading() as store:
            expected = plan_results(store.conn, read_plan(plan_path)[0])
        shown = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert [row[1] for row in shown] == [str(m.model) for m in expected.models]
        assert [row[3] for row in shown] == [f"{m.score:.3f}" for m in expected.models]
        assert all(row[4].startswith("[") and "█" in row[5] and row[7] for row in shown)
        assert "calibrated" in str(screen.query_one("#estimate", Static).render())


async def test_explore_opens_a_launched_plans_results(store_path: Path, tmp_path: Path) -> None:
    plan_path = _planned(store_path, tmp_path)
    launched = run_cli("launch", str(plan_path), "--backend", "replay", "--store", str(store_path))
    assert launched.returncode == 0, launched.stderr
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ResultsScreen)
        field = dialog.query_one("#results-plan", Input)
        field.value = str(plan_path)
        field.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        table = dialog.query_one("#results-table", DataTable)
        assert table.row_count == 4 and str(table.get_row_at(0)[0]) == "1"
        assert "intervals  90%" in str(dialog.query_one("#results-summary", Static).render())
        field.value = str(tmp_path / "missing.json")
        field.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "cannot be read" in str(dialog.query_one("#results-summary", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ExploreScreen)


async def test_every_mode_survives_resizing_with_degenerate_data(store_path: Path, tmp_path: Path) -> None:
    """80x24, 120x40 and 200x60 and back in every mode, on benchmarks with $0 rollouts and with one model:
    the app keeps running and says in place what it cannot show."""
    table = tmp_path / "degenerate.csv"
    table.write_text(
        "benchmark,item_id,model,score,cost_usd\n"
        "zero,a,m1,1,0\nzero,b,m1,0,0\nzero,a,m2,1,0.01\nzero,b,m2,1,0.02\n"
        "one,a,solo,1,0.1\none,b,solo,0,0.1\n"
    )
    assert run_cli("ingest", "--store", str(store_path), str(table)).returncode == 0
    for benchmark in ("zero", "one"):
        app = EvalbudgetApp(store_path)
        async with app.run_test(size=(80, 24)) as pilot:
            for key in "12345":
                await pilot.press(key)
                await settle(app, pilot)
                if app.screen.query("#benchmark"):  # Explore and Launch have no benchmark chooser
                    app.screen.query_one("#benchmark", Select).value = benchmark
                await settle(app, pilot)
                for size in ((120, 40), (200, 60), (80, 24), (120, 40)):
                    await pilot.resize_terminal(*size)
                    await settle(app, pilot)
                assert app.is_running and app.screen.size.width == 120


async def planned_view(screen: CheckpointsScreen, pilot: object, after: int) -> None:
    """Wait (up to a minute) until the screen shows the plan of its latest request, made after ``after``."""
    for _ in range(600):
        await pilot.pause(0.1)  # type: ignore[attr-defined]
        if screen.shown > after and screen.shown == screen.generation:
            return
    raise AssertionError("no plan was shown")


async def test_checkpoints_mode_plans_a_run_and_saves_it(store_path: Path, tmp_path: Path) -> None:
    """Mode 6 on the sample store's Pythia series: a task and a run are chosen, the plan follows the budget
    and the strategy, a bad budget is one sentence, and s writes the plan shown, which Launch then offers."""
    app = EvalbudgetApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_mode(app, pilot, "6", CheckpointsScreen)
        await planned_view(screen, pilot, 0)
        assert screen.query_one("#benchmark", Select).value == "lambada_openai"
        view = screen.view
        assert view is not None and view.plan.checkpoints is not None
        first = view.plan.checkpoints
        assert first.series == screen.query_one("#series", Select).value
        assert 0 < first.share <= 0.2 + 1e-9 and view.predicted is not None
        assert "checkpoints on" in str(screen.query_one("#checkpoint-plan", Static).render())
        budget = screen.query_one("#budget", Input)
        budget.value = "lots"
        await pilot.pause()
        assert "not one of" in str(screen.query_one("#budget-error", Label).render())
        generation = screen.generation
        budget.value = "60%"
        await planned_view(screen, pilot, generation)
        wider = screen.view.plan.checkpoints  # type: ignore[union-attr]
        assert (
            wider is not None
            and wider.share > first.share
            and not str(screen.query_one("#budget-error", Label).render())
        )
        generation = screen.generation
        screen.query_one("#strategy", Select).value = "uniform"
        await planned_view(screen, pilot, generation)
        assert screen.view is not None and screen.view.plan.strategy == "checkpoints:uniform"
        target = tmp_path / "ck.json"
        screen.query_one("#save-path", Input).value = str(target)
        await pilot.press("escape", "s")
        for _ in range(100):
            await settle(app, pilot)
            if target.exists():
                break
        saved = Plan.model_validate_json(target.read_text())
        assert saved.checkpoints is not None and saved.checkpoints.series == wider.series
        assert saved.strategy == "checkpoints:uniform" and app.last_plan_path == target


async def test_launch_mode_sends_the_requests_from_ray_workers(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Launch form's Ray fields (openai backend): the summary names the workers, the launch runs on a local
    Ray cluster from the app's launch thread, and the status names the cluster."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed")
    config = tmp_path / "config"
    config.mkdir()
    (config / "prices.toml").write_text(PRICES)
    monkeypatch.setenv("EVALBUDGET_CONFIG_DIR", str(config))
    items = write_items(tmp_path / "items.jsonl", count=6)
    assert (
        run_cli("items", "load", str(items), "--benchmark", "arith", "--store", str(store_path)).returncode
        == 0
    )
    plan = write_plan(tmp_path / "plan.json", [f"q{i}" for i in range(1, 7)])
    app = EvalbudgetApp(store_path)
    with fault_server() as (url, script):
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await launch_mode(app, pilot)
            screen.query_one("#plan", Input).value = str(plan)
            assert not screen.query_one("#option-ray", Input).display  # replay: no Ray fields
            screen.query_one("#backend", Select).value = "openai"
            await pilot.pause()
            assert screen.query_one("#option-ray", Input).display
            screen.query_one("#option-base_url", Input).value = url
            screen.query_one("#option-ray", Input).value = "local"
            screen.query_one("#option-ray_workers", Input).value = "2"
            screen.query_one("#option-concurrency", Input).value = "2"
            await pilot.click("#start")
            await pilot.pause()
            summary = app.screen
            assert isinstance(summary, Confirm)
            text = str(summary.query_one("#confirm-question", Static).render())
            assert "sent from 2 Ray workers (local), 4 at a time" in text
            await pilot.press("y")
            for _ in range(1200):
                await pilot.pause(0.1)
                if screen.report is not None and screen.report.run_id:
                    break
            await settle(app, pilot)
            assert screen.report is not None and screen.report.status == "completed", screen.report
            assert screen.report.completed == 12 and screen.report.cluster is not None
            assert screen.report.cluster["workers"] == 2 and script.requests == 12
            shown = str(screen.query_one("#status", Static).render())
            assert "sent from 2 Ray workers on 1 node(s) of 127.0.0.1:" in shown and ": 12 requests" in shown
