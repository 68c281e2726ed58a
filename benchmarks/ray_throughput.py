"""Launching over Ray (issue 16): a latency-bound API plan (the server answers after 0.2 s) run from two local
Ray workers against one, and the overhead of `--ray local` with one worker against the plain launcher on the
same plan, all measured in this run (not a test).

    .venv/bin/python benchmarks/ray_throughput.py [--requests N] [--concurrency N]

Each worker holds --concurrency requests at a time, so two workers keep twice as many out: the target is at
least 1.6x the one-worker throughput. The cluster's start-up (a few seconds) is left out of every timing; each
run records every rollout in its own store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evalbudget.engine.items import load_items_file
from evalbudget.engine.launch import Launcher, OpenAIBackend
from evalbudget.engine.launch.ray_pool import RayPool
from evalbudget.engine.plan import Plan, PlanStage
from evalbudget.engine.store import open_store
from evalbudget.pricing import PriceCard

ROOT = Path(__file__).resolve().parent.parent
DELAY_S = 0.2
TARGET = 1.6


def timed_launch(url: str, requests: int, concurrency: int, workers: int | None) -> float:
    """Seconds from the first request to the last rollout recorded: the plain launcher (workers None) or one
    whose requests go out from ``workers`` Ray workers of a local cluster."""
    models = ["model-a", "model-b"]
    per_model = requests // len(models)
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
        pool = RayPool("local", workers, concurrency, 60.0) if workers else None
        if pool is not None:
            pool.start()  # the cluster's start-up is not the launch's throughput
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
                concurrency=concurrency * (workers or 1),
                progress=False,
            )
            started = time.perf_counter()
            report = asyncio.run(launcher.run())
            elapsed = time.perf_counter() - started
            committed = store.conn.execute("SELECT count(*) FROM rollouts WHERE run_id = 'bench'").fetchone()
    assert report.completed == per_model * len(models) and committed == (report.completed,), report
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fault_server", str(DELAY_S)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    try:
        plain = timed_launch(url, args.requests, args.concurrency, None)
        one = timed_launch(url, args.requests, args.concurrency, 1)
        two = timed_launch(url, args.requests, args.concurrency, 2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    n = args.requests
    print(f"{n} requests, each answered after {DELAY_S:g} s, {args.concurrency} at a time per worker")
    print(f"plain launcher:          {plain:.2f} s ({n / plain:,.1f} req/s)")
    print(
        f"--ray local, 1 worker:   {one:.2f} s ({n / one:,.1f} req/s): {plain / one:.2f}x the plain launcher"
    )
    print(f"--ray local, 2 workers:  {two:.2f} s ({n / two:,.1f} req/s)")
    ratio = one / two
    print(
        f"2 workers vs 1: {ratio:.2f}x the throughput (target {TARGET}x: {'met' if ratio >= TARGET else 'missed'})"
    )


if __name__ == "__main__":
    main()
