"""Requests sent from the workers of a Ray cluster, while this process stays the launch's one spend authority.

`evalbudget launch PLAN --backend openai --ray ADDRESS` keeps everything that decides and records in the
driver (this process): the plan's units, each request's reservation against the cap before it is sent, the
settlement of what it cost, retries, the journal and every write to the store. Only the HTTP request itself
travels: the driver hands it to one of ``workers`` Ray actors, which may run on any node of the cluster, and
gets back the answer's status, headers and body. A worker that dies with requests in flight (its process
killed, its node lost) fails those calls; the launcher then treats each as an attempt whose outcome is
unknown, exactly as a dropped connection: charged its worst case, then retried with a fresh reservation on
another worker, which the pool starts in the dead one's place. So no worker can spend money the driver has
not reserved, and every (model, item, repeat) is recorded once, by the driver.

`evalbudget launch PLAN --backend vllm --ray ADDRESS` runs each model's vLLM engine (one at a time, as on one
machine) inside an actor that holds ``--gpus`` GPUs on a node Ray chooses; the server listens on that node's
loopback only and the actor relays the driver's requests to it. The cost is still the GPU time held, start-up
included; an engine lost with its node is charged up to the moment it was found lost, and one new engine
(its start-up reserved first) takes the requests it held (vllm_backend.py).

``ADDRESS`` is ``local`` (a one-node cluster this launch starts, bound to 127.0.0.1: a cluster on every
interface is an open door), ``auto`` (the cluster this machine belongs to) or ``ray://host:10001`` / ``host:port``
(a remote cluster, with Ray's token authentication from ``RAY_AUTH_TOKEN`` in the environment: no token is
ever written into a plan, the store or a log). Ray is imported only here, and only when ``--ray`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalbudget.engine.errors import BackendError, LaunchError, ServerFailed

LOCAL = "local"
ADDRESS = re.compile(r"^(local|auto|ray://[^\s/:]+:\d+|[^\s/:]+:\d+)$")
"""What ``--ray`` accepts."""


class WorkerLost(Exception):
    """The worker holding a request died (or its node did): the request's outcome is unknown."""


@dataclass
class Answer:
    """What a worker got back: an HTTP answer, or how the request failed (connect, timeout, transport)."""

    kind: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    detail: str = ""


class Relay(Protocol):
    """What sends the openai backend's requests for it: the pool's workers, or a cluster engine's actor."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def info(self) -> dict[str, object]: ...

    async def post(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> Answer: ...


def _actor_classes(ray: Any) -> tuple[Any, Any]:
    """The request worker and the engine host, made here so that Ray ships them by value: a node that only
    sends requests needs httpx, not evalbudget (a node that hosts a vLLM engine needs vllm and evalbudget)."""

    class RequestWorker:
        def __init__(self, timeout_s: float) -> None:
            self.timeout_s = timeout_s
            self.client: Any = None

        def pid(self) -> int:
            return os.getpid()

        def node(self) -> str:
            return str(ray.get_runtime_context().get_node_id())

        async def post(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[Any, ...]:
            import httpx

            if self.client is None:
                self.client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s))
            try:
                response = await self.client.post(url, json=body, headers=headers)
            except httpx.ConnectError as exc:
                return ("connect", 0, {}, b"", type(exc).__name__)
            except httpx.TimeoutException:
                return ("timeout", 0, {}, b"", "")
            except httpx.TransportError as exc:
                return ("transport", 0, {}, b"", type(exc).__name__)
            # the body is already decoded: its encoding and length headers no longer describe it
            kept = {
                k: v
                for k, v in response.headers.items()
                if k.lower() not in ("content-encoding", "content-length")
            }
            return ("answer", response.status_code, kept, response.content, "")

    class EngineHost(RequestWorker):
        """Runs one server (a VllmServer) on its node, listening on that node's loopback only, and sends it
        the driver's requests; the server dies with this actor's process."""

        def __init__(self, server: Any, timeout_s: float) -> None:
            super().__init__(timeout_s)
            self.server = server

        async def up(self) -> tuple[str, float, str]:
            startup = float(await self.server.up())
            return str(self.server.base_url), startup, self.node()

        def server_pid(self) -> int:
            return int(self.server.process.pid) if self.server.process is not None else 0

        def down(self) -> float:
            return float(self.server.down())

    return (
        ray.remote(num_cpus=0, max_restarts=0)(RequestWorker),
        ray.remote(num_cpus=0, max_restarts=0)(EngineHost),
    )


@dataclass
class RayPool:
    """``workers`` request workers on the cluster at ``address``, each holding up to ``concurrency`` requests
    at a time."""

    address: str
    workers: int
    concurrency: int
    timeout_s: float
    tasks: int = 0
    """Requests handed to workers so far."""
    lost: int = 0
    """Workers that died and were replaced."""
    engines: int = 0
    """vLLM engines started on the cluster (the vllm backend's)."""
    _ray: Any = None
    _class: Any = None
    _host_class: Any = None
    _actors: list[Any] = field(default_factory=list)
    _next: int = 0
    _started_here: bool = False
    _gcs: str = ""
    _nodes: int = 0
    _node_ids: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Connect (or start a local cluster) and start the workers; blocking (a few seconds). Once only."""
        if self._ray is not None:
            return
        if not ADDRESS.match(self.address):
            raise LaunchError(f"--ray {self.address!r} is not local, auto, ray://HOST:PORT or HOST:PORT.")
        if self.address == LOCAL or _loopback(self.address):
            # a cluster on this machine's loopback: Ray otherwise advertises and connects to the machine's
            # external address, even for a local cluster, and turns a given 127.0.0.1 into that address; read
            # when Ray is imported
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        try:
            import ray
        except ImportError:
            raise LaunchError("--ray needs Ray: pip install 'evalbudget[ray]'.") from None
        self._ray = ray
        _errors_to_stderr()
        try:
            with _streams_with_files():
                self._init(ray)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ...: one sentence either way
            reason = _first_line(exc).rstrip(".")
            if _refused_token(exc):
                reason = (
                    "it refused this process's authentication token (give RAY_AUTH_MODE=token and the "
                    "cluster's RAY_AUTH_TOKEN in the environment)"
                )
            raise LaunchError(f"Could not reach the Ray cluster at {self.address!r}: {reason}.") from None
        self._gcs = str(ray.get_runtime_context().gcs_address)
        self._class, self._host_class = _actor_classes(ray)
        self._node_ids = [str(node["NodeID"]) for node in self._alive()]
        self._nodes = len(self._node_ids)
        self._actors = [self._spawn(index) for index in range(self.workers)]
        ray.get([actor.pid.remote() for actor in self._actors])  # every worker up before the first request

    def _init(self, ray: Any) -> None:
        if self.address == LOCAL:
            ray.init(
                address="local",  # a new cluster, even where this machine has (or had) another
                num_cpus=max(1, self.workers),
                include_dashboard=False,
                object_store_memory=100 * 1024 * 1024,
                log_to_driver=False,
                configure_logging=False,
            )
            self._started_here = True
        else:
            ray.init(address=self.address, log_to_driver=False, configure_logging=False)

    def _spawn(self, index: int) -> Any:
        """Worker ``index`` on node ``index`` mod the nodes (round robin: the requests leave from every node);
        a replacement whose node is gone goes to a live one."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = self._node_ids[index % len(self._node_ids)]
        if self._actors:  # a replacement: its node may be the one that died
            alive = [str(n["NodeID"]) for n in self._alive()]
            if node not in alive and alive:
                node = alive[index % len(alive)]
        place = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
        return self._class.options(max_concurrency=self.concurrency, scheduling_strategy=place).remote(
            self.timeout_s
        )

    async def post(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> Answer:
        """Send one request from the next worker; WorkerLost if that worker dies before it answers (it is
        replaced, so the retry goes to a live one)."""
        index = self._next % len(self._actors)
        self._next += 1
        actor = self._actors[index]
        try:
            return await self.relay(actor, url, headers, body)
        except WorkerLost:
            if self._actors[index] is actor:  # the first of its requests to fail replaces it
                self._actors[index] = self._spawn(index)
                self.lost += 1
            raise

    async def relay(self, actor: Any, url: str, headers: dict[str, str], body: dict[str, Any]) -> Answer:
        """Send one request from ``actor``; WorkerLost if it dies before it answers."""
        self.tasks += 1
        try:
            kind, status, headers_back, content, detail = await actor.post.remote(url, headers, body)
        except self._ray.exceptions.RayActorError as exc:
            raise WorkerLost(_first_line(exc)) from None
        return Answer(kind, status, headers_back, content, detail)

    def _alive(self) -> list[dict[str, Any]]:
        return [node for node in self._ray.nodes() if node.get("Alive")]

    def engine_capacity(self, gpus: int) -> int:
        """How many engines of ``gpus`` GPUs the cluster's live nodes hold at once; refused in one sentence
        where no node can hold one (an engine's GPUs are on one node: tensor parallel within a node)."""
        per_node = [float(n.get("Resources", {}).get("GPU", 0)) for n in self._alive()]
        if max(per_node, default=0.0) < gpus:
            raise LaunchError(
                f"No node of the Ray cluster at {self._gcs or self.address} has {gpus} GPU(s) (the most on one "
                f"node: {max(per_node, default=0.0):g}); a vLLM engine holds --gpus GPUs on one node."
            )
        return sum(int(count // gpus) for count in per_node)

    def engine(self, server: Any, gpus: int) -> ClusterEngine:
        """``server`` (a VllmServer, not started), to be run by an actor holding ``gpus`` GPUs on the node Ray
        chooses."""
        self.engines += 1
        actor = self._host_class.options(num_gpus=gpus).remote(server, self.timeout_s)
        return ClusterEngine(self, server, actor)

    def pids(self) -> list[int]:
        """The workers' process ids (the tests kill one)."""
        return [int(pid) for pid in self._ray.get([actor.pid.remote() for actor in self._actors])]

    def info(self) -> dict[str, object]:
        """``{"address", "nodes", "workers", "tasks"}`` for the report and the progress line."""
        return {
            "address": self._gcs or self.address,
            "nodes": self._nodes,
            "workers": self.workers,
            "tasks": self.tasks,
            "workers_lost": self.lost,
            "engines": self.engines,
        }

    def stop(self) -> None:
        """Stop the workers; a cluster this launch started is shut down, a remote one is only left."""
        if self._ray is None:
            return
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already dead: nothing to stop
                self._ray.kill(actor)
        self._actors = []
        self._ray.shutdown()


@dataclass
class ClusterEngine:
    """A vLLM server run by an actor on the node Ray chose, holding that node's GPUs. The server listens on
    its node's loopback only, so the actor relays the requests to it (this object is the engine client's
    relay). A lost engine (its actor or node died) is charged the time from its start to the moment it was
    found lost: the most it can have held."""

    pool: RayPool
    server: Any
    actor: Any
    base_url: str = ""
    node: str = ""
    lost: bool = False
    _created: float = field(default_factory=time.monotonic)
    _down: bool = False

    @property
    def relay(self) -> ClusterEngine:
        return self

    async def up(self) -> float:
        """Wait until the server serves (placement on a node with free GPUs included); its start-up seconds."""
        ray = self.pool._ray
        limit = startup_limit(float(self.server.startup_timeout_s))
        try:
            self.base_url, startup, self.node = await asyncio.wait_for(self.actor.up.remote(), limit)
        except TimeoutError:
            self.down()
            raise ServerFailed(
                f"The vLLM engine for {self.server.served_name!r} was not serving after {limit:g} s on the Ray "
                "cluster (waiting there for free GPUs, then starting)."
            ) from None
        except ray.exceptions.RayTaskError as exc:  # the server's own failure, with its last lines
            self.down()
            raise ServerFailed(str(exc.cause)) from None
        except ray.exceptions.RayActorError as exc:
            self.lost = True
            self.down()
            raise ServerFailed(
                f"The Ray actor starting the vLLM engine for {self.server.served_name!r} died: {_first_line(exc)}"
            ) from None
        return float(startup)

    def down(self) -> float:
        """Stop the server and its actor; the seconds it was held (for a lost one, up to now)."""
        if self._down:
            return 0.0
        self._down = True
        held = None
        if not self.lost:
            with contextlib.suppress(Exception):  # died meanwhile: counted up to now
                held = float(self.pool._ray.get(self.actor.down.remote(), timeout=120))
        with contextlib.suppress(Exception):
            self.pool._ray.kill(self.actor)
        return held if held is not None else time.monotonic() - self._created

    def running_s(self) -> float:
        return 0.0 if self._down else time.monotonic() - self._created

    def server_pid(self) -> int:
        """The server's process id on its node (the tests kill its actor)."""
        return int(self.pool._ray.get(self.actor.server_pid.remote()))

    def start(self) -> None:
        """Nothing: the engine's life is the vllm backend's (``up``, ``down``)."""

    def stop(self) -> None:
        """Nothing: see ``start``."""

    def info(self) -> dict[str, object]:
        return self.pool.info()

    async def post(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> Answer:
        """Send one request to the server through its actor; a lost engine's requests are not sent."""
        if self.lost:
            raise BackendError("the vLLM engine on the Ray cluster was lost; the request was not sent")
        try:
            return await self.pool.relay(self.actor, url, headers, body)
        except WorkerLost:
            self.lost = True
            raise


def startup_limit(startup_timeout_s: float) -> float:
    """How long an engine on a cluster may take to serve: it may first wait for free GPUs, before the server's
    own start-up timeout begins, and that wait is bounded by the timeout again."""
    return 2 * startup_timeout_s


def describe_cluster(cluster: dict[str, object], *, short: bool = False) -> str:
    """The cluster a launch ran on, from its report's ``cluster``: one line (``short``: for the progress line)."""
    engines, workers = cluster.get("engines") or 0, cluster.get("workers") or 0
    on_engines = bool(engines) and not workers
    if short:
        ran = f"{engines} vLLM engine(s)" if on_engines else f"{workers} workers"
        return f"ray: {cluster['nodes']} node(s), {ran}, {cluster['tasks']} tasks"
    ran = f"sent to {engines} vLLM engine(s)" if on_engines else f"sent from {workers} Ray workers"
    lost = f", {cluster['workers_lost']} workers lost and replaced" if cluster.get("workers_lost") else ""
    return f"{ran} on {cluster['nodes']} node(s) of {cluster['address']}: {cluster['tasks']} requests{lost}"


@contextlib.contextmanager
def _streams_with_files() -> Iterator[None]:
    """Ray's start-up hands sys.stdout and sys.stderr to the processes it starts, so they must be real files;
    inside the app they are Textual's captures, which have none: there, what start-up prints is dropped (a
    line on the real terminal would draw over the screen)."""

    def real(stream: object) -> bool:
        try:
            descriptor = stream.fileno()  # type: ignore[attr-defined]
            return isinstance(descriptor, int) and descriptor >= 0  # Textual's capture answers -1
        except Exception:
            return False

    if real(sys.stdout) and real(sys.stderr):
        yield
        return
    saved = sys.stdout, sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stdout = sys.stderr = sink
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


def _errors_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages (a worker died, ...) on stdout, which would break
    `--json`; they are diagnostics, so they go to stderr."""
    try:
        from ray._private import worker
    except ImportError:  # another Ray layout: leave it be
        return
    printer = getattr(worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "evalbudget", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        printer({**data, "is_err": True}, ignore_prefix=ignore_prefix)

    to_stderr.evalbudget = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _loopback(address: str) -> bool:
    """Whether ``address`` (HOST:PORT or ray://HOST:PORT) names this machine's loopback."""
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return host == "localhost" or host.startswith("127.")


def _refused_token(exc: BaseException) -> bool:
    """Whether Ray's failure to connect (anywhere in its chain of causes) was the cluster refusing the token."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if "InvalidAuthToken" in str(seen) or type(seen).__name__ == "AuthenticationError":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
