"""What is simulated is what is launched: a staged plan replayed by the launcher (replay backend, on the
store's past results) runs, stage by stage, exactly the models and items the simulator chose for the same
replicate and seed; the narrowing rule is engine.stages.keep in both."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from evalbudget.engine.launch import Launcher
from evalbudget.engine.launch.setup import LaunchOptions, make_backend
from evalbudget.engine.plan import make_plan, replay
from evalbudget.engine.sim import load_benchmark, parse_budget
from evalbudget.engine.stages import keep
from evalbudget.engine.store import open_store


@pytest.mark.parametrize(
    ("strategy", "budget", "seed"),
    [
        ("coarse-to-fine", "12%", 3),
        ("successive-halving", "15%", 5),
        ("coarse-to-fine", "6%", 11),
        ("racing", "12%", 4),
    ],
)
async def test_a_replayed_staged_plan_runs_what_the_simulator_chose(
    store_path: Path, strategy: str, budget: str, seed: int
) -> None:
    with open_store(store_path) as store:
        data = load_benchmark(store.conn, "swe-bench-verified")
    candidates = data.candidates[::3]  # 8 of the 24 models; the other 16 are the history
    plan = make_plan(data, candidates, parse_budget(budget), replicates=20, seed=seed, strategies=[strategy])
    assert plan.strategy == strategy and len(plan.stages) >= 2
    simulated = replay(plan, data).stages
    # the rule narrowed something: a later stage runs fewer models than the first
    assert len(simulated[-1].models) < len(simulated[0].models)

    with open_store(store_path, write=True) as store:
        backend = make_backend(store.conn, plan, "launch-test", LaunchOptions(backend="replay"))
        launcher = Launcher(
            store.conn, plan, backend, run_id="launch-test", source="test", max_spend=None, concurrency=8
        )
        report = await launcher.run()
        ran = {
            (str(m), str(i))
            for m, i in store.conn.execute(
                "SELECT model, item_id FROM rollouts WHERE run_id = 'launch-test'"
            ).fetchall()
        }
    assert report.status == "completed" and report.failed == 0 and report.missing == 0
    assert [(s.name, s.models, s.item_ids) for s in launcher.stage_runs] == [
        (s.name, s.models, s.item_ids) for s in simulated
    ]
    assert ran == {(m.model, i) for s in simulated for m in s.models for i in s.item_ids}
    assert report.spend_usd <= plan.budget_units * (1 + 1e-9)


@pytest.mark.parametrize(("budget", "seed"), [("8%", 2), ("15%", 7)])
async def test_a_replayed_adaptive_plan_gives_each_model_the_items_the_simulator_chose(
    store_path: Path, budget: str, seed: int
) -> None:
    """Adaptive stages choose per model from its results so far: the launcher, fed the same past results by the
    replay backend, must choose for every model in every stage exactly the items the simulator did."""
    with open_store(store_path) as store:
        data = load_benchmark(store.conn, "swe-bench-verified")
    candidates = data.candidates[1::3]
    plan = make_plan(
        data, candidates, parse_budget(budget), replicates=20, seed=seed, strategies=["adaptive"]
    )
    assert plan.strategy == "adaptive" and plan.item_model is not None
    assert [s.pick for s in plan.stages] == [None, "information", "information", "information"]
    simulated = replay(plan, data).stages
    picked = [s.picks for s in simulated[1:]]
    assert all(p is not None for p in picked)
    # the models' own items differ: the choice is per model, not one list
    assert len({tuple(v) for p in picked if p for v in p.values()}) > len(candidates)

    with open_store(store_path, write=True) as store:
        backend = make_backend(store.conn, plan, "adaptive-test", LaunchOptions(backend="replay"))
        launcher = Launcher(
            store.conn, plan, backend, run_id="adaptive-test", source="test", max_spend=None, concurrency=8
        )
        report = await launcher.run()
        ran = set(
            store.conn.execute(
                "SELECT model, item_id FROM rollouts WHERE run_id = 'adaptive-test'"
            ).fetchall()
        )
    assert report.status == "completed" and report.failed == 0
    assert [s.name for s in launcher.stage_runs] == [s.name for s in simulated]
    assert sorted(launcher.stage_runs[0].item_ids) == sorted(simulated[0].item_ids)
    for live, sim in zip(launcher.stage_runs[1:], simulated[1:], strict=True):
        assert live.picks is not None and sim.picks is not None
        assert {m: sorted(v) for m, v in live.picks.items()} == {m: sorted(v) for m, v in sim.picks.items()}
    assert ran == {(m.model, i) for s in simulated for m, i in s.pairs()}
    assert report.spend_usd <= plan.budget_units * (1 + 1e-9)


def test_the_narrowing_rules() -> None:
    nan = np.nan
    scores = np.array(
        [
            [1, 1, 1, 1, 1, 1],  # clearly best
            [1, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 0, 1, 0, 1, 0],
            [0, 0, 0, 0, 0, 0],  # clearly out of the top three
            [nan, nan, nan, nan, nan, nan],  # no result: dropped
        ],
        dtype=float,
    )
    kept = keep("top3-interval", scores)
    assert kept[:3].all() and not kept[4] and not kept[5]
    # with three or fewer candidates that have results, nobody is dropped
    assert keep("top3-interval", scores[[0, 4, 5]]).all()
    halved = keep("top-half", scores)
    assert halved.tolist() == [True, True, True, False, False, False]
    # ties keep the earlier candidate
    assert keep("top-half", np.array([[0.5], [0.5], [0.5]])).tolist() == [True, True, False]


def test_the_paired_race_compares_item_by_item() -> None:
    """paired-race keeps the leader and whoever is not significantly worse than it on the same items: a
    candidate behind on 6 of 60 shared items and level on the rest is out, though unpaired 95% intervals of
    the two means overlap widely."""
    rng = np.random.default_rng(0)
    leader = (rng.random(60) < 0.6).astype(float)
    behind = leader.copy()
    behind[np.flatnonzero(leader)[:6]] = 0
    level = leader.copy()
    level[np.flatnonzero(leader)[0]] = 0
    level[np.flatnonzero(leader == 0)[0]] = 1  # one behind, one ahead: no evidence either way
    unseen = np.full(60, np.nan)
    assert keep("paired-race", np.vstack([behind, leader, level, unseen])).tolist() == [
        False,
        True,
        True,
        False,
    ]
    half_width = [1.96 * x.std(ddof=1) / np.sqrt(60) for x in (leader, behind)]
    assert leader.mean() - half_width[0] < behind.mean() + half_width[1]  # unpaired, no difference is seen


def test_a_resumed_staged_launch_narrows_from_the_same_results(store_path: Path) -> None:
    """Kill-and-rerun safety for stages: a second invocation of the same launch runs nothing new and keeps
    the same stages, since narrowing reads only the items earlier stages ran."""
    import asyncio

    with open_store(store_path) as store:
        data = load_benchmark(store.conn, "swe-bench-verified")
    plan = make_plan(
        data, data.candidates[1::3], parse_budget("10%"), replicates=10, seed=2, strategies=["coarse-to-fine"]
    )
    runs = []
    for _ in range(2):
        with open_store(store_path, write=True) as store:
            backend = make_backend(store.conn, plan, "launch-resume", LaunchOptions(backend="replay"))
            launcher = Launcher(
                store.conn, plan, backend, run_id="launch-resume", source="t", max_spend=None, concurrency=4
            )
            report = asyncio.run(launcher.run())
            runs.append((report, [(s.models, s.item_ids) for s in launcher.stage_runs]))
    (first, first_stages), (second, second_stages) = runs
    assert first.completed > 0 and second.completed == 0 and second.skipped_existing == first.completed
    assert first_stages == second_stages
    conn = duckdb.connect(str(store_path), read_only=True)
    duplicates = conn.execute(
        "SELECT count(*) FROM (SELECT model, item_id, count(*) c FROM rollouts WHERE run_id = 'launch-resume' "
        "GROUP BY ALL HAVING c > 1)"
    ).fetchone()
    conn.close()
    assert duplicates == (0,)
