"""Launching over Ray (issue 16): a latency-bound API plan (the server answers after 0.2 s) run from two local
Ray workers against one, and `--ray local` with one worker against the plain launcher on the same plan, all
measured in this run (not a test).

    .venv/bin/python benchmarks/ray_throughput.py [--requests N] [--concurrency N]

Each worker holds --concurrency requests at a time, so two workers keep twice as many out: the target is at
least 1.6x the one-worker throughput. Each launch is timed twice over: as a user runs it, the local cluster's
start-up included (a new cluster each time), and with the cluster already up (its throughput alone). Every
run records every rollout in a store of its own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from launch_throughput import launcher_run

from evalbudget.engine.launch.ray_pool import RayPool

ROOT = Path(__file__).resolve().parent.parent
DELAY_S = 0.2
TARGET = 1.6
MODELS = ["model-a", "model-b"]


def timed(url: str, requests: int, concurrency: int, workers: int | None, started: bool) -> float:
    """The launch's seconds: plain (workers None), or from ``workers`` Ray workers of a new local cluster,
    started before the timing (``started``) or inside it."""
    pool = RayPool("local", workers, concurrency, 60.0) if workers else None
    if pool is not None and started:
        pool.start()
    per_model = requests // len(MODELS)
    return launcher_run(url, MODELS, per_model, concurrency, per_model * len(MODELS), pool)


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
        plain = timed(url, args.requests, args.concurrency, None, False)
        whole = {w: timed(url, args.requests, args.concurrency, w, False) for w in (1, 2)}
        warm = {w: timed(url, args.requests, args.concurrency, w, True) for w in (1, 2)}
    finally:
        server.terminate()
        server.wait(timeout=30)
    n = args.requests
    print(f"{n} requests, each answered after {DELAY_S:g} s, {args.concurrency} at a time per worker")
    print(f"plain launcher:                       {plain:.2f} s ({n / plain:,.1f} req/s)")
    for label, times in (("cluster start-up included", whole), ("cluster already up", warm)):
        print(
            f"--ray local, {label}: 1 worker {times[1]:.2f} s ({n / times[1]:,.1f} req/s, {plain / times[1]:.2f}x "
            f"the plain launcher), 2 workers {times[2]:.2f} s ({n / times[2]:,.1f} req/s): "
            f"{times[1] / times[2]:.2f}x"
        )
    ratio = warm[1] / warm[2]
    print(
        f"2 workers vs 1, cluster up: {ratio:.2f}x the throughput (target {TARGET}x: {'met' if ratio >= TARGET else 'missed'})"
    )


if __name__ == "__main__":
    main()
