"""Backends the launcher runs units on: an OpenAI-compatible HTTP endpoint, and replay from the store.

A backend answers one unit (a model, an item, a repeat) with a ``UnitResult``; what it cost is computed
here from the usage the endpoint reports and the model's price card.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb
import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from evalbudget.engine.candidates import Candidate
from evalbudget.engine.defaults import DEFAULT_MAX_TOKENS
from evalbudget.engine.errors import BackendError
from evalbudget.engine.launch.ray_pool import Relay, WorkerLost
from evalbudget.engine.launch.scoring import score_answer
from evalbudget.engine.records import LAUNCHED, NOT_HISTORY, Item
from evalbudget.pricing import PriceCard, token_cost

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Unit:
    stage: str
    candidate: Candidate
    item: Item
    repeat: int

    @property
    def model(self) -> str:
        """The model's name in the store (and, unless a model map says otherwise, at the endpoint)."""
        return self.candidate.model

    @property
    def scaffold(self) -> str:
        return self.candidate.scaffold


@dataclass
class UnitResult:
    score: float | None
    status: str
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    cost_source: str = "unknown"
    latency_s: float | None = None
    api_calls: int | None = None
    gpu_seconds: float | None = None
    gpu_type: str | None = None
    scaffold: str | None = None
    """The scaffold the answer came from, when the backend knows it better than the plan (replay)."""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))


RetryHook = Callable[[str], bool]
"""Called before retrying an attempt whose outcome is unknown (it reached the provider, which may bill it):
the launcher charges that attempt its worst case and reserves the next one; False means the cap has no room
for another attempt."""


class Backend(Protocol):
    name: str

    async def start(self) -> None: ...
    async def run(self, unit: Unit, on_unknown: RetryHook | None = None) -> UnitResult: ...
    def worst_case_cost(self, unit: Unit) -> float: ...
    async def stop(self) -> None: ...


def _retry_after(response: httpx.Response) -> float | None:
    """The wait a 429 or 503 asks for: a number of seconds or an HTTP date; None for anything else (the
    caller backs off instead)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _usage(usage: object) -> tuple[int, int, int, int] | None:
    """(input, cached input, output, reasoning) tokens from an OpenAI ``usage`` object; None where it is
    missing. Usage that is not a whole non-negative number is refused: it cannot be trusted to price."""
    if (
        not isinstance(usage, dict)
        or usage.get("prompt_tokens") is None
        or usage.get("completion_tokens") is None
    ):
        return None
    details_in = usage.get("prompt_tokens_details") or {}
    details_out = usage.get("completion_tokens_details") or {}
    fields = {
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "cached_tokens": details_in.get("cached_tokens") if isinstance(details_in, dict) else None,
        "reasoning_tokens": details_out.get("reasoning_tokens") if isinstance(details_out, dict) else None,
    }
    counts: dict[str, int] = {}
    for name, value in fields.items():
        if value is None:
            counts[name] = 0
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise BackendError(
                f"the endpoint reported unusable usage ({name} {value!r})", unknown_outcome=True
            )
        counts[name] = int(value)
    prompt, completion = counts["prompt_tokens"], counts["completion_tokens"]
    cached, reasoning = min(counts["cached_tokens"], prompt), min(counts["reasoning_tokens"], completion)
    return prompt - cached, cached, completion - reasoning, reasoning


@dataclass
class OpenAIBackend:
    """Any OpenAI-compatible chat-completions endpoint, with retries and exponential backoff with jitter."""

    base_url: str
    served_models: dict[str, str]
    """Plan model -> the model name the endpoint serves."""
    cards: dict[str, PriceCard]
    """Plan model -> price card; every model that runs here must have one, so the cap holds."""
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    max_retry_wait_s: float = 60.0
    """No wait between attempts is longer, whatever Retry-After asks."""
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    name: str = "openai"
    retries: int = 0
    """Retries made so far (for the report)."""
    stopping: asyncio.Event | None = None
    """Set by the launcher when it stops (cancel, Ctrl-C, SIGTERM): ends a wait between attempts at once."""
    pool: Relay | None = None
    """With --ray: the workers that send the requests (this process still reserves and records each); for a
    vLLM engine on a cluster node, its actor."""
    _client: httpx.AsyncClient | None = None
    _auth: dict[str, str] = field(default_factory=dict)
    """The key's header, kept in memory and handed to the worker with each request (never written)."""

    async def start(self) -> None:
        if self.pool is not None:
            self.pool.start()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._auth = headers
        self._client = httpx.AsyncClient(
            base_url=self.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self.pool is not None:
            self.pool.stop()

    def cluster(self) -> dict[str, object] | None:
        """The Ray cluster the requests went through (--ray), for the report."""
        return None if self.pool is None else self.pool.info()

    def max_tokens(self, unit: Unit) -> int:
        return unit.item.max_tokens or self.default_max_tokens

    def worst_case_cost(self, unit: Unit) -> float:
        card = self.cards[unit.model]
        return float(token_cost(card, unit.item.prompt_token_bound(), 0, self.max_tokens(unit)))

    async def run(self, unit: Unit, on_unknown: RetryHook | None = None) -> UnitResult:
        assert self._client is not None, "start() first"
        body = {
            "model": self.served_models.get(unit.model, unit.model),
            "messages": unit.item.messages(),
            "max_tokens": self.max_tokens(unit),
            "temperature": self.temperature,
        }
        started = datetime.now(UTC).replace(tzinfo=None)
        clock = time.monotonic()
        response = await self._post(body, on_unknown)
        latency = time.monotonic() - clock
        try:
            data = response.json()
            answer = str(data["choices"][0]["message"].get("content") or "")
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(
                f"the endpoint's answer was not a chat completion (HTTP {response.status_code})",
                unknown_outcome=True,
            ) from None
        tokens = _usage(data.get("usage"))
        card = self.cards[unit.model]
        if tokens is None:  # no usage: the provider billed something unknown, so charge the worst case
            input_tokens = cached = output_tokens = reasoning = None
            cost, source = self.worst_case_cost(unit), "worst-case"
        else:
            input_tokens, cached, output_tokens, reasoning = tokens
            cost, source = float(token_cost(card, input_tokens, cached, output_tokens, reasoning)), "priced"
        item = unit.item
        score = score_answer(answer, item.target or "", item.scorer or "exact", item.choices)
        finish = data["choices"][0].get("finish_reason")
        return UnitResult(
            score=score,
            status="limit" if finish == "length" else "ok",
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            output_tokens=output_tokens,
            reasoning_tokens=reasoning,
            cost_usd=cost,
            cost_source=source,
            latency_s=latency,
            api_calls=1,
            started_at=started,
        )

    async def _post(self, body: dict[str, Any], on_unknown: RetryHook | None) -> httpx.Response:
        """POST with retries (tenacity): a Retry-After of seconds or an HTTP date is honoured, anything else
        backs off exponentially with jitter, and no wait exceeds max_retry_wait_s. Before each retry of an
        attempt that may have been billed, ``on_unknown`` charges it and reserves the next; a stop (Ctrl-C,
        SIGTERM, cancel) ends a wait at once."""
        try:  # the first attempt outside tenacity: most requests need no retry, and this is the hot path
            return await self._attempt(body)
        except _Retryable as failure:
            first = failure
        if self.max_retries < 1:
            raise BackendError(f"{first.problem} after 1 attempt", unknown_outcome=first.unknown)
        jitter = wait_random_exponential(multiplier=self.backoff_s, max=self.max_backoff_s)

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            asked = failure.wait if isinstance(failure, _Retryable) else None
            return min(jitter(state) if asked is None else asked, self.max_retry_wait_s)

        def before_retry(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            assert isinstance(failure, _Retryable)
            if failure.unknown and on_unknown is not None and not on_unknown(failure.problem):
                raise BackendError(f"{failure.problem}; the spend cap leaves no room to retry")
            self.retries += 1

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.max_retries + 1),
                wait=wait,
                retry=retry_if_exception_type(_Retryable),
                before_sleep=before_retry,
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    if attempt.retry_state.attempt_number == 1:
                        raise first  # the attempt made above, handed to tenacity to wait and retry
                    return await self._attempt(body)
        except _Retryable as failure:
            raise BackendError(
                f"{failure.problem} after {self.max_retries + 1} attempts", unknown_outcome=failure.unknown
            ) from None
        raise AssertionError("unreachable: tenacity returns or raises")

    async def _sleep(self, seconds: float) -> None:
        """Wait between attempts, unless the launch is stopping: then the unit ends now, its next attempt not
        sent (the reservation made for it is released, not charged)."""
        if self.stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
            raise BackendError("the launch was stopped while waiting to retry")

    async def _attempt(self, body: dict[str, Any]) -> httpx.Response:
        """One request: the response, a BackendError for a refusal, or _Retryable."""
        assert self._client is not None
        if self.pool is not None:
            response = await self._attempt_on_worker(body)
        else:
            try:
                response = await self._client.post("/chat/completions", json=body)
            except httpx.ConnectError as exc:  # never sent
                raise self._failed("connect", type(exc).__name__) from None
            except httpx.TimeoutException:
                raise self._failed("timeout", "") from None
            except httpx.TransportError as exc:
                raise self._failed("transport", type(exc).__name__) from None
        if response.status_code < 400:
            return response
        if response.status_code not in RETRY_STATUS:
            raise BackendError(f"the endpoint refused the request (HTTP {response.status_code})")
        # a 429 is a refusal, not billed; a 5xx may have been
        raise _Retryable(f"HTTP {response.status_code}", response.status_code >= 500, _retry_after(response))

    def _failed(self, kind: str, detail: str) -> _Retryable:
        """A request that got no answer: never sent (connect), or sent and maybe billed (timeout, transport)."""
        if kind == "connect":
            return _Retryable(f"could not connect to {self.base_url} ({detail})", False)
        if kind == "timeout":
            return _Retryable(f"no answer from {self.base_url} within {self.timeout_s:g} s", True)
        return _Retryable(f"the connection to {self.base_url} failed ({detail})", True)

    async def _attempt_on_worker(self, body: dict[str, Any]) -> httpx.Response:
        """The request sent by a Ray worker (--ray); a worker that dies holding it leaves its outcome unknown."""
        assert self.pool is not None and self._client is not None
        try:
            answer = await self.pool.post(f"{self.base_url.rstrip('/')}/chat/completions", self._auth, body)
        except WorkerLost as lost:
            raise _Retryable(f"the Ray worker sending it was lost ({lost})", True) from None
        if answer.kind != "answer":
            raise self._failed(answer.kind, answer.detail)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.content)


class _Retryable(Exception):
    """An attempt that may be retried: what went wrong, whether the provider may have billed it, and the wait
    its Retry-After asked for (None: back off)."""

    def __init__(self, problem: str, unknown: bool, wait: float | None = None) -> None:
        super().__init__(problem)
        self.problem, self.unknown, self.wait = problem, unknown, wait


@dataclass
class ReplayBackend:
    """Answers each unit from rollouts already in the store (a dry run of a plan on past data): from the
    history only, never from a launch (a test endpoint's answers, or an earlier replay's copies)."""

    conn: duckdb.DuckDBPyConnection
    benchmark: str
    exclude_run: str
    name: str = "replay"
    missing: int = 0
    _answers: dict[tuple[str, str, str, int], UnitResult] = field(default_factory=dict)
    _any_scaffold: dict[tuple[str, str, int], UnitResult] = field(default_factory=dict)

    async def start(self) -> None:
        rows = self.conn.execute(
            f"""
            SELECT model, scaffold, item_id, "repeat", score, status, input_tokens, cached_input_tokens,
                   cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, cost_source, latency_s, api_calls
            FROM rollouts WHERE benchmark = ? AND run_id <> ?
              AND run_id NOT IN ({NOT_HISTORY}) AND run_id NOT IN ({LAUNCHED})
            QUALIFY row_number() OVER (PARTITION BY model, scaffold, item_id, "repeat" ORDER BY run_id) = 1
            """,
            [self.benchmark, self.exclude_run],
        ).fetchall()
        for model, scaffold, item, repeat, *rest in rows:
            score, status, i, c, w, o, r, cost, source, latency, calls = rest
            result = UnitResult(
                score=score,
                status=status,
                input_tokens=i,
                cached_input_tokens=c,
                cache_write_tokens=w,
                output_tokens=o,
                reasoning_tokens=r,
                cost_usd=cost,
                cost_source=source,
                latency_s=latency,
                api_calls=calls,
            )
            self._answers[(model, scaffold, item, repeat)] = result
            self._any_scaffold.setdefault((model, item, repeat), result)

    async def stop(self) -> None:
        return None

    def _lookup(self, unit: Unit) -> UnitResult | None:
        exact = self._answers.get((unit.model, unit.scaffold, unit.item.item_id, unit.repeat))
        if exact is None and not unit.scaffold:  # a plan names a model by itself when it has one scaffold
            exact = self._any_scaffold.get((unit.model, unit.item.item_id, unit.repeat))
        return exact

    def worst_case_cost(self, unit: Unit) -> float:
        found = self._lookup(unit)
        return float(found.cost_usd) if found is not None and found.cost_usd is not None else 0.0

    async def run(self, unit: Unit, on_unknown: RetryHook | None = None) -> UnitResult:
        found = self._lookup(unit)
        if found is None:
            self.missing += 1
            raise BackendError("the store holds no such rollout to replay")
        return UnitResult(**{**found.__dict__, "started_at": datetime.now(UTC).replace(tzinfo=None)})
