"""A launch over a real two-node Ray cluster (issue 16): each node in a network namespace this test creates,
joined by a veth pair, with Ray's token authentication; the fault server and the launching process inside the
first namespace. No traffic leaves the namespaces. Everything is removed at the end, even on failure; the
test is skipped where network namespaces cannot be made (not root, or a container that forbids them)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT, load_arith_items, write_plan

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")

RAY = str(Path(sys.executable).with_name("ray"))
SUBNET = "10.213.{}.{}"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def netns_allowed() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if shutil.which("ip") is None:
        return "the `ip` command is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    probe = f"evbp{os.getpid() % 100000}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here ({made.stderr.strip()})"
    ip("netns", "delete", probe, check=False)
    return None


@pytest.fixture
def two_nodes() -> Iterator[dict[str, str]]:
    why = netns_allowed()
    if why:
        pytest.skip(why)
    tag = f"{os.getpid() % 10000}"
    spaces, links = (f"evb{tag}a", f"evb{tag}b"), (f"evv{tag}a", f"evv{tag}b")
    octet = str(200 + os.getpid() % 50)
    head, other = SUBNET.format(octet, 1), SUBNET.format(octet, 2)
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    env.pop(
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None
    )  # single-node only: it would pin every node to loopback
    env.pop("EVALBUDGET_STORE", None)
    try:
        for space in spaces:
            ip("netns", "add", space)
        ip("link", "add", links[0], "type", "veth", "peer", "name", links[1])
        for space, link, address in zip(spaces, links, (head, other), strict=True):
            ip("link", "set", link, "netns", space)
            ip("-n", space, "addr", "add", f"{address}/24", "dev", link)
            ip("-n", space, "link", "set", "lo", "up")
            ip("-n", space, "link", "set", link, "up")

        def in_space(space: str, *argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["ip", "netns", "exec", space, *argv], capture_output=True, text=True, env=env, timeout=180
            )

        started = in_space(
            spaces[0], RAY, "start", "--head", f"--node-ip-address={head}", "--port=6399", "--num-cpus=1",
            "--include-dashboard=false", "--disable-usage-stats",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr[-2000:]
        joined = in_space(
            spaces[1], RAY, "start", f"--address={head}:6399", f"--node-ip-address={other}", "--num-cpus=1",
            "--disable-usage-stats",
        )  # fmt: skip
        assert joined.returncode == 0, joined.stderr[-2000:]
        yield {
            "space": spaces[0],
            "head": head,
            "other": other,
            **{k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")},
        }
    finally:
        for space in spaces:  # every process in the namespaces (Ray's daemons, the server): only theirs
            pids = ip("netns", "pids", space, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.5)
        for space in spaces:
            ip("netns", "delete", space, check=False)
        ip("link", "delete", links[0], check=False)
        # `ray start --head` names its cluster as this machine's current one: not once it is gone
        current = Path("/tmp/ray/ray_current_cluster")
        if current.exists() and current.read_text().strip().startswith(f"{head}:"):
            current.unlink(missing_ok=True)


def test_a_launch_spreads_its_requests_over_two_nodes(
    two_nodes: dict[str, str], arith: dict[str, Path], tmp_path: Path
) -> None:
    load_arith_items(arith["store"], tmp_path / "more.jsonl", 20)
    plan = write_plan(tmp_path / "plan.json", [f"q{i}" for i in range(1, 21)])
    env = {**os.environ, "EVALBUDGET_TEST_KEY": "sk-nodes", "RAY_AUTH_MODE": two_nodes["RAY_AUTH_MODE"],
           "RAY_AUTH_TOKEN": two_nodes["RAY_AUTH_TOKEN"]}  # fmt: skip
    env.pop("EVALBUDGET_STORE", None)
    server = subprocess.Popen(
        ["ip", "netns", "exec", two_nodes["space"], sys.executable, "-m", "tests.fault_server", "0.05",
         two_nodes["head"], "--clients"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith(f"http://{two_nodes['head']}:"), url
        result = subprocess.run(
            ["ip", "netns", "exec", two_nodes["space"], sys.executable, "-m", "evalbudget.engine", "launch",
             str(plan), "--backend", "openai", "--base-url", url, "--store", str(arith["store"]), "--prices",
             str(arith["prices"]), "--api-key-env", "EVALBUDGET_TEST_KEY", "--ray", f"{two_nodes['head']}:6399",
             "--ray-workers", "2", "--concurrency", "2", "--json"],
            capture_output=True, text=True, env=env, timeout=300, cwd=ROOT,
        )  # fmt: skip
    finally:
        server.terminate()
        clients_text, _ = server.communicate(timeout=30)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["completed"] == 40
    assert report["cluster"]["nodes"] == 2 and report["cluster"]["workers"] == 2
    clients = {line.split()[1] for line in clients_text.splitlines() if line.startswith("client ")}
    assert clients == {two_nodes["head"], two_nodes["other"]}  # the requests left from both nodes
    conn = duckdb.connect(str(arith["store"]), read_only=True)
    counts = conn.execute(
        'SELECT count(*), count(DISTINCT (model, item_id, "repeat")) FROM rollouts WHERE run_id = ?',
        [report["run_id"]],
    ).fetchone()
    conn.close()
    assert counts == (40, 40)
