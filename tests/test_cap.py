"""The spend cap belongs to the plan, across every run of it, and holds under the endpoint's faults: an
attempt whose outcome or usage is unknown is charged its worst case, usage is checked before it is priced,
and a provider that bills past the reservation stops the launch (issue 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, write_plan
from tests.fault_server import Script, fault_server
from tests.test_launch import launch

ITEMS = [f"q{i}" for i in range(1, 6)]
# the worst case of one q item: its prompt's byte bound plus 8 per message, and max_tokens 16, at 100 and
# 1000 $/Mtok; the fault server reports 10 + len(prompt)//4 prompt tokens and 3 completion tokens
WORST = (len("Double the number 1.") + 8) * 100 / 1e6 + 16 * 1000 / 1e6
ACTUAL = (10 + len("Double the number 1.") // 4) * 100 / 1e6 + 3 * 1000 / 1e6


def store_spend(store: Path) -> tuple[float, float]:
    """(rollouts' cost, worst-case charges) of every launch of arith in the store."""
    conn = duckdb.connect(str(store), read_only=True)
    try:
        rolled = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM rollouts WHERE benchmark = 'arith'"
        ).fetchone()
        charged = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM charges WHERE benchmark = 'arith'"
        ).fetchone()
    finally:
        conn.close()
    return float(rolled[0]), float(charged[0])  # type: ignore[index]


def launch_process(
    plan: Path, store: Path, prices: Path, url: str, *extra: str, stdout: int = -1
) -> subprocess.Popen[str]:
    """``evalbudget launch`` of ``plan`` on the openai backend as a process of its own (to signal or kill)."""
    env = {k: v for k, v in os.environ.items() if k != "EVALBUDGET_STORE"}
    return subprocess.Popen(
        [sys.executable, "-m", "evalbudget.engine", "launch", str(plan), "--backend", "openai", "--base-url", url,
         "--store", str(store), "--prices", str(prices), "--json", *extra],
        stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip


def property_store(template: Path, folder: Path) -> tuple[Path, Path, Path]:
    """(store, prices, plan) for a property example: a copy of the seeded store with the arith items, the
    test prices, and a plan of ITEMS whose own budget leaves room (each run's cap is its --max-spend)."""
    import shutil

    from evalbudget.engine.items import load_items_file
    from evalbudget.engine.store import open_store
    from tests.conftest import PRICES, write_items

    store = folder / "store.duckdb"
    shutil.copyfile(template, store)
    prices = folder / "prices.toml"
    prices.write_text(PRICES)
    plan_path = write_plan(folder / "plan.json", ITEMS, budget=100.0)
    with open_store(store, write=True) as opened:
        load_items_file(opened.conn, write_items(folder / "items.jsonl"), "arith")
    return store, prices, plan_path


def test_the_cap_holds_across_every_run_of_a_plan(arith: dict[str, Path]) -> None:
    cap = 3.5 * WORST  # room for a few requests, never for all ten
    arith["plan"] = write_plan(arith["plan"], ITEMS, budget=cap)
    reports = []
    with fault_server() as (first_url, _), fault_server() as (second_url, _):
        # reruns of the same launch, and a launch of the same plan elsewhere (another run id)
        for url in (first_url, first_url, second_url, second_url, first_url):
            result = launch(arith, url, "--concurrency", "1")
            assert result.returncode in (0, 3), result.stderr
            reports.append(json.loads(result.stdout))
    rolled, charged = store_spend(arith["store"])
    assert rolled + charged <= cap * (1 + 1e-9)
    assert reports[-1]["plan_spent_usd"] == pytest.approx(rolled + charged)
    assert len({r["run_id"] for r in reports}) == 2 and len({r["plan_id"] for r in reports}) == 1
    assert sum(r["completed"] for r in reports) >= 3  # each rerun used what the earlier runs left
    assert all(r["status"] == "budget_exhausted" for r in reports[1:])


@pytest.mark.parametrize("fault", ["no-usage", "null-usage"])
def test_missing_usage_is_charged_its_worst_case(arith: dict[str, Path], fault: str) -> None:
    arith["plan"] = write_plan(arith["plan"], ITEMS, budget=1.0)
    with fault_server(Script(every=fault)) as (url, _):
        result = launch(arith, url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    conn = duckdb.connect(str(arith["store"]), read_only=True)
    rows = conn.execute(
        "SELECT cost_usd, cost_source, input_tokens FROM rollouts WHERE run_id = ?", [report["run_id"]]
    ).fetchall()
    conn.close()
    assert len(rows) == 10
    assert all(
        source == "worst-case" and cost == pytest.approx(WORST) and tokens is None
        for cost, source, tokens in rows
    )
    assert report["unsettled_usd"] == pytest.approx(10 * WORST) == pytest.approx(report["spend_usd"])


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("negative-usage", "prompt_tokens -300000000"), ("text-usage", "prompt_tokens 'many'")],
)
def test_unusable_usage_fails_with_a_reason_and_is_charged(
    arith: dict[str, Path], fault: str, reason: str
) -> None:
    arith["plan"] = write_plan(arith["plan"], ITEMS, budget=1.0)
    with fault_server(Script(every=fault)) as (url, _):
        result = launch(arith, url)
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["status"] == "failed" and report["completed"] == 0
    assert f"the endpoint reported unusable usage ({reason})" in result.stderr
    rolled, charged = store_spend(arith["store"])
    assert rolled == 0 and charged == pytest.approx(10 * WORST) == pytest.approx(report["spend_usd"])
    # a rerun counts what the failed attempts were charged
    with fault_server() as (url, _):
        again = json.loads(launch(arith, url).stdout)
    assert again["plan_spent_usd"] == pytest.approx(10 * WORST + 10 * ACTUAL)


def test_a_provider_overrun_is_recorded_and_stops_the_launch(arith: dict[str, Path]) -> None:
    arith["plan"] = write_plan(arith["plan"], ITEMS, budget=1.0)
    with fault_server(Script(faults={1: "inflated-usage"})) as (url, script):
        result = launch(arith, url, "--concurrency", "1")
    report = json.loads(result.stdout)
    assert result.returncode == 3 and report["status"] == "provider_overrun"
    assert report["launched"] == 1 and script.requests == 1  # nothing new started after it
    billed = 1_000_000_000 * 100 / 1e6 + 3 * 1000 / 1e6
    assert report["overrun_usd"] == pytest.approx(billed - WORST)
    assert report["spend_usd"] == pytest.approx(billed)  # recorded as reported
    assert "past the reserved worst case" in result.stdout or "the provider reported" in result.stderr


def test_an_attempt_that_timed_out_is_charged_and_the_retry_reserves_again(arith: dict[str, Path]) -> None:
    arith["plan"] = write_plan(arith["plan"], ["q1"], models=("model-a",), budget=1.0)
    with fault_server(Script(faults={1: "slow"})) as (url, script):
        result = launch(arith, url, "--timeout", "1", "--retries", "2")
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert report["completed"] == 1 and script.requests == 2
    rolled, charged = store_spend(arith["store"])
    assert charged == pytest.approx(WORST) and rolled == pytest.approx(ACTUAL)
    assert report["spend_usd"] == pytest.approx(WORST + ACTUAL) and report["unsettled_usd"] == pytest.approx(
        WORST
    )


@pytest.mark.parametrize("fault", ["drop-after-headers", "500"])
def test_a_connection_dropped_mid_answer_is_charged_and_retried(arith: dict[str, Path], fault: str) -> None:
    """The answer began (or a 5xx came) after the request was sent: it may be billed, so it is charged at the
    worst case and the retry reserves again."""
    arith["plan"] = write_plan(arith["plan"], ["q1"], models=("model-a",), budget=1.0)
    with fault_server(Script(faults={1: fault})) as (url, script):
        result = launch(arith, url, "--retries", "2", "--max-retry-wait", "0.01")
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert report["completed"] == 1 and report["retries"] == 1 and script.requests == 2
    rolled, charged = store_spend(arith["store"])
    assert charged == pytest.approx(WORST) and rolled == pytest.approx(ACTUAL)
    assert report["unsettled_usd"] == pytest.approx(WORST)


def test_an_answer_that_is_not_json_is_a_failed_unit_charged_its_worst_case(arith: dict[str, Path]) -> None:
    arith["plan"] = write_plan(arith["plan"], ["q1", "q2"], models=("model-a",), budget=1.0)
    with fault_server(Script(faults={1: "bad-json"})) as (url, _):
        result = launch(arith, url, "--concurrency", "1")
    report = json.loads(result.stdout)
    assert report["completed"] == 1 and report["failed"] == 1
    assert "was not a chat completion" in result.stderr
    rolled, charged = store_spend(arith["store"])
    assert charged == pytest.approx(WORST) and report["unsettled_usd"] == pytest.approx(WORST)
    assert rolled == pytest.approx(ACTUAL)  # the other item, answered properly


def test_no_retry_past_the_cap(arith: dict[str, Path]) -> None:
    """A retry reserves again: with room for one attempt only, a timed-out request is not retried."""
    arith["plan"] = write_plan(arith["plan"], ["q1"], models=("model-a",), budget=1.5 * WORST)
    with fault_server(Script(faults={1: "slow"})) as (url, script):
        result = launch(arith, url, "--timeout", "1", "--retries", "3")
    report = json.loads(result.stdout)
    assert script.requests == 1 and report["completed"] == 0
    assert "the spend cap leaves no room to retry" in result.stderr
    assert report["plan_spent_usd"] == pytest.approx(WORST)


@pytest.mark.parametrize("retry_after", ["soon", "Wed,", "nan", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_an_unparsable_or_past_retry_after_backs_off_instead(
    arith: dict[str, Path], retry_after: str
) -> None:
    arith["plan"] = write_plan(arith["plan"], ["q1", "q2"], models=("model-a",), budget=1.0)
    with fault_server(Script(faults={1: "429"}, retry_after=retry_after)) as (url, script):
        result = launch(arith, url)
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert report["completed"] == 2 and report["retries"] == 1 and script.requests == 3


def test_a_huge_retry_after_waits_no_longer_than_the_cap_on_waits(arith: dict[str, Path]) -> None:
    arith["plan"] = write_plan(arith["plan"], ["q1"], models=("model-a",), budget=1.0)
    with fault_server(Script(faults={1: "429"}, retry_after="100000")) as (url, _):
        started = time.monotonic()
        result = launch(arith, url, "--max-retry-wait", "0.5")
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["completed"] == 1
    assert elapsed < 60  # not the 100,000 s asked for (the bound is generous: this is no timing test)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    faults=st.dictionaries(
        st.integers(1, 40),
        st.sampled_from(["429", "500", "drop", "no-usage", "negative-usage", "text-usage"]),
        max_size=12,
    ),
    cap_units=st.floats(0.5, 12.0),
    reruns=st.integers(1, 3),
    concurrency=st.integers(1, 4),
)
def test_random_faults_and_reruns_never_take_a_plan_past_its_cap(
    seeded_store_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    faults: dict[int, str],
    cap_units: float,
    reruns: int,
    concurrency: int,
) -> None:
    """Property: whatever the endpoint does and however often the launch is rerun under a cap, the spend
    recorded for the plan stays within it; a final rerun with room to finish records every unit exactly once."""
    import asyncio

    from evalbudget.engine.launch import Launcher, launch_id
    from evalbudget.engine.launch.options import LaunchOptions
    from evalbudget.engine.launch.setup import make_backend, read_plan
    from evalbudget.engine.store import open_store

    store, prices, plan_path = property_store(seeded_store_template, tmp_path_factory.mktemp("property"))
    cap = cap_units * WORST

    def run(url: str, max_spend: float) -> object:
        plan, text = read_plan(plan_path)
        options = LaunchOptions(
            backend="openai", base_url=url, prices=prices, retries=2, max_retry_wait_s=0.01
        )
        run_id = launch_id(text, "openai", {}, url)
        with open_store(store, write=True) as opened:
            backend = make_backend(opened.conn, plan, run_id, options)
            launcher = Launcher(
                opened.conn,
                plan,
                backend,
                run_id=run_id,
                source="p",
                max_spend=max_spend,
                concurrency=concurrency,
            )
            return asyncio.run(launcher.run())

    with fault_server(Script(faults=faults)) as (url, _):
        for _ in range(reruns):
            run(url, cap)
            rolled, charged = store_spend(store)
            assert rolled + charged <= cap * (1 + 1e-9)
    with fault_server() as (url, _):  # the same plan elsewhere, with room to finish: what is missing runs
        run(url, 100.0)
    conn = duckdb.connect(str(store), read_only=True)
    counts = conn.execute(
        "SELECT model, item_id, count(*) FROM rollouts WHERE benchmark = 'arith' GROUP BY ALL"
    ).fetchall()
    conn.close()
    assert all(count == 1 for _, _, count in counts)
    assert len(counts) == 10


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_signal_ends_a_retry_wait_at_once(arith: dict[str, Path], signal_name: str) -> None:
    """Ctrl-C or SIGTERM while a unit waits out a long Retry-After: the launch stops now (not after the
    wait), reports itself cancelled, records what finished, and lets the store go."""
    import signal

    arith["plan"] = write_plan(arith["plan"], ["q1", "q2"], models=("model-a",), budget=1.0)
    with fault_server(Script(faults={2: "429"}, retry_after="100000")) as (url, script):
        process = launch_process(
            arith["plan"],
            arith["store"],
            arith["prices"],
            url,
            "--concurrency",
            "1",
            "--max-retry-wait",
            "3600",
        )
        try:
            while script.requests < 2:  # the 429 came back: the unit now waits (up to an hour)
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            time.sleep(0.5)
            process.send_signal(getattr(signal, signal_name))
            out, err = process.communicate(timeout=60)  # an hour's wait would fail here
        finally:
            process.kill()
    report = json.loads(out)
    assert process.returncode == 130 and report["status"] == "cancelled", err
    assert report["completed"] == 1 and report["failed"] == 1 and script.requests == 2
    rolled, charged = store_spend(arith["store"])
    assert rolled == pytest.approx(ACTUAL) and charged == 0  # a 429 is not billed; the retry never went
    duckdb.connect(str(arith["store"])).close()  # the lock is released


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    faults=st.dictionaries(
        st.integers(1, 30), st.sampled_from(["429", "500", "drop", "no-usage", "slow"]), max_size=8
    ),
    cap_units=st.floats(1.0, 12.0),
    kill_after=st.lists(st.integers(0, 8), min_size=1, max_size=3),
    concurrency=st.integers(1, 4),
)
def test_kill_9_at_random_points_never_takes_a_plan_past_its_cap(
    seeded_store_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    faults: dict[int, str],
    cap_units: float,
    kill_after: list[int],
    concurrency: int,
) -> None:
    """Property: launches killed with SIGKILL after a random number of requests (mid-request, mid-commit or
    mid-wait) never leave the plan's recorded spend past its cap, and a final rerun elsewhere records every
    unit exactly once."""
    import signal

    store, prices, plan_path = property_store(seeded_store_template, tmp_path_factory.mktemp("killed"))
    cap = cap_units * WORST

    def start(url: str, max_spend: float) -> subprocess.Popen[str]:
        return launch_process(
            plan_path, store, prices, url, "--max-spend", str(max_spend), "--concurrency", str(concurrency),
            "--retries", "2", "--max-retry-wait", "0.01", "--timeout", "1", stdout=subprocess.DEVNULL,
        )  # fmt: skip

    with fault_server(Script(faults=faults, delay_s=0.05)) as (url, script):
        for requests in kill_after:
            target = script.requests + requests
            process = start(url, cap)
            while script.requests < target and process.poll() is None:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            _, err = process.communicate(timeout=60)
            assert "Traceback" not in err, err
            rolled, charged = store_spend(store)
            assert rolled + charged <= cap * (1 + 1e-9)
    with fault_server() as (url, _):  # the same plan elsewhere, with room to finish: what is missing runs
        process = start(url, 100.0)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    conn = duckdb.connect(str(store), read_only=True)
    counts = conn.execute(
        "SELECT model, item_id, count(*) FROM rollouts WHERE benchmark = 'arith' GROUP BY ALL"
    ).fetchall()
    conn.close()
    assert len(counts) == 10 and all(count == 1 for _, _, count in counts), counts


def test_requests_in_flight_at_kill_9_are_charged_by_the_next_launch(arith: dict[str, Path]) -> None:
    """A launch killed while its requests are out never learns what they cost: each was written to the
    store's journal before it went, and the next launch charges them at the worst case, so the plan's cap
    counts them; the journal is then gone."""
    import signal

    arith["plan"] = write_plan(arith["plan"], ITEMS, budget=1.0)
    journal = arith["store"].with_name(arith["store"].name + ".journal")
    with fault_server(Script(delay_s=30)) as (url, script):
        process = launch_process(
            arith["plan"],
            arith["store"],
            arith["prices"],
            url,
            "--concurrency",
            "2",
            "--timeout",
            "60",
            stdout=subprocess.DEVNULL,
        )
        try:
            while script.requests < 2:  # two requests out, answers 30 s away
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=60)
    assert len(list(journal.glob("*.jsonl"))) == 1
    assert store_spend(arith["store"]) == (0.0, 0.0)  # nothing came back before the kill
    with fault_server() as (url, _):
        result = launch(arith, url, "--concurrency", "1")
    report = json.loads(result.stdout)
    assert report["recovered_usd"] == pytest.approx(2 * WORST)
    rolled, charged = store_spend(arith["store"])
    assert charged == pytest.approx(2 * WORST)
    assert report["plan_spent_usd"] == pytest.approx(rolled + charged) and rolled + charged <= 1.0
    assert report["completed"] == 10  # the two killed units run again: a charge is not a result
    assert not list(journal.glob("*.jsonl"))
