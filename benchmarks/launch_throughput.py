"""Launcher throughput against a fast local server: 2,000 requests at concurrency 64, against a bare
``httpx.AsyncClient`` loop making the same requests to the same server in the same run (not a test).

    .venv/bin/python benchmarks/launch_throughput.py [--requests N] [--concurrency N]

The launcher does more per request (the spend guard, scoring, and committing each rollout to DuckDB);
the target is at least 85% of the bare loop's throughput (issue 10; the goal is 95%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from evalbudget.engine.items import load_items_file
from evalbudget.engine.launch import Launcher, OpenAIBackend
from evalbudget.engine.launch.ray_pool import RayPool
from evalbudget.engine.plan import Plan, PlanStage
from evalbudget.engine.store import open_store
from evalbudget.pricing import PriceCard

ROOT = Path(__file__).resolve().parent.parent


async def bare_loop(url: str, bodies: list[dict[str, object]], concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(body: dict[str, object]) -> None:
            async with semaphore:
                response = await client.post("/chat/completions", json=body)
                response.json()

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    # the server runs in a process of its own, so it does not share this one's interpreter lock
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fault_server"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    try:
        run(url, args.requests, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)


ROUNDS = 5
"""Each side runs this many times, interleaved; the medians are compared (this machine is noisy)."""


def run(url: str, requests: int, concurrency: int) -> None:
    models = ["model-a", "model-b"]
    per_model = requests // len(models)
    bodies = [
        {"model": m, "messages": [{"role": "user", "content": f"Double {i}"}], "max_tokens": 16}
        for i in range(per_model)
        for m in models
    ]
    bare_times, our_times = [], []
    for _ in range(ROUNDS):
        bare_times.append(asyncio.run(bare_loop(url, bodies, concurrency)))
        our_times.append(launcher_run(url, models, per_model, concurrency, len(bodies)))
    bare, ours = statistics.median(bare_times), statistics.median(our_times)
    print(f"{len(bodies):,} requests at concurrency {concurrency} against a local server (its own process)")
    print(f"bare httpx.AsyncClient loop: {bare:.2f} s ({len(bodies) / bare:,.0f} req/s), median of {ROUNDS}")
    print(
        f"evalbudget launcher:         {ours:.2f} s ({len(bodies) / ours:,.0f} req/s), median of {ROUNDS}, "
        "every rollout committed"
    )
    rounds = ", ".join(f"{b / o:.0%}" for b, o in zip(bare_times, our_times, strict=True))
    print(f"launcher throughput = {bare / ours:.0%} of the bare loop (target 85%); rounds: {rounds}")


def launcher_run(
    url: str,
    models: list[str],
    per_model: int,
    concurrency: int,
    expected: int,
    pool: RayPool | None = None,
) -> float:
    """Seconds to launch ``per_model`` items for each model into a new store, every rollout committed; with a
    Ray ``pool``, the requests go out from its workers (each holding ``concurrency``); a pool not yet started
    starts inside the timing."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        items = folder / "items.jsonl"
        items.write_text(
            "\n".join(
                json.dumps({"id": f"q{i}", "input": f"Double {i}", "target": str(2 * i), "scorer": "numeric"})
                for i in range(per_model)
            )
            + "\n"
        )
        plan = Plan(
            benchmark="bench",
            budget_units=100.0,
            stages=[PlanStage(name="main", models=models, item_ids=[f"q{i}" for i in range(per_model)])],
        )
        card = PriceCard(model="m", input_mtok=0.1, output_mtok=0.2, source="benchmark")
        with open_store(folder / "store.duckdb", write=True) as store:
            load_items_file(store.conn, items, "bench")
            backend = OpenAIBackend(
                base_url=url,
                served_models={},
                cards={m: card for m in models},
                default_max_tokens=16,
                pool=pool,
            )
            launcher = Launcher(
                store.conn,
                plan,
                backend,
                run_id="bench",
                source="benchmark",
                max_spend=100.0,
                concurrency=concurrency * (pool.workers if pool else 1),
                progress=False,
            )
            started = time.perf_counter()
            report = asyncio.run(launcher.run())
            elapsed = time.perf_counter() - started
            committed = store.conn.execute("SELECT count(*) FROM rollouts WHERE run_id = 'bench'").fetchone()
    assert report.completed == expected and committed == (expected,), (report, committed)
    return elapsed


if __name__ == "__main__":
    main()
