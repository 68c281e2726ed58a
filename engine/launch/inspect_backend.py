"""Agentic and multi-turn benchmarks are run by the harness users already use: Inspect AI.

Each unit is one ``inspect eval TASK --model M --sample-id ID --epochs 1`` run with a per-sample token
limit, so its worst-case cost is known before it starts (the limit's tokens at the model's price); the log
it writes is read with the same code as ``evalbudget ingest``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from evalbudget.engine.errors import InputError
from evalbudget.engine.ingest.common import check_amounts
from evalbudget.engine.ingest.inspect_log import parse_inspect
from evalbudget.engine.ingest.pricing_fill import usage_cost
from evalbudget.engine.launch.backends import BackendError, RetryHook, Unit, UnitResult
from evalbudget.pricing import PriceBook, PriceCard, token_cost


@dataclass
class InspectBackend:
    task: str
    """A task file or registered task, as ``inspect eval`` takes it."""
    inspect_models: dict[str, str]
    """Plan model -> Inspect's model name (e.g. ``openai/gpt-4o``, ``openai-api/vllm/smollm2``)."""
    cards: dict[str, PriceCard]
    token_limit: int
    command: str = "inspect"
    timeout_s: float = 3600.0
    name: str = "inspect"
    book: PriceBook | None = None
    """Prices the other models a sample calls (a task's model grader), each at its own price."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def worst_case_cost(self, unit: Unit) -> float:
        card = self.cards[unit.model]
        dearer = max(card.input_mtok, card.output_mtok)
        return self.token_limit * dearer / 1_000_000

    async def run(self, unit: Unit, on_unknown: RetryHook | None = None) -> UnitResult:
        model = self.inspect_models.get(unit.model, unit.model)
        # inspect takes a task file relative to where it runs
        task_path = Path(self.task)
        cwd, task = (task_path.parent.resolve(), task_path.name) if task_path.exists() else (None, self.task)
        with tempfile.TemporaryDirectory(prefix="evalbudget-inspect-") as logs:
            argv = [
                *shlex.split(self.command),
                "eval",
                task,
                "--model",
                model,
                "--sample-id",
                unit.item.item_id,
                "--epochs",
                "1",
                "--token-limit",
                str(self.token_limit),
                "--log-dir",
                logs,
                "--log-format",
                "eval",
                "--display",
                "none",
            ]
            clock = time.monotonic()
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    env={**os.environ, "INSPECT_DISPLAY": "none"},
                    cwd=cwd,
                )
            except FileNotFoundError:
                raise BackendError(f"{argv[0]!r} was not found: install inspect-ai") from None
            try:
                output, _ = await asyncio.wait_for(process.communicate(), timeout=self.timeout_s)
            except TimeoutError:
                process.kill()
                # it may have called the model meanwhile: charged at the worst case
                raise BackendError(
                    f"inspect eval did not finish within {self.timeout_s:g} s", unknown_outcome=True
                ) from None
            latency = time.monotonic() - clock
            written = sorted(Path(logs).glob("*.eval"))
            if not written:
                tail = output.decode("utf-8", "replace").strip().splitlines()[-5:]
                raise BackendError(
                    f"inspect eval wrote no log (exit {process.returncode}): {' | '.join(tail)}",
                    unknown_outcome=True,  # it may have called the model before it failed
                )
            try:
                samples = list(parse_inspect(written[-1]))
                for n, sample in enumerate(samples, 1):  # usage that is not a count cannot be priced
                    check_amounts(sample, f"{written[-1]}, sample {n}")
                    for tokens in (sample.get("_other_usage") or {}).values():
                        check_amounts(tokens, f"{written[-1]}, sample {n}")
            except InputError as exc:
                raise BackendError(str(exc), unknown_outcome=True) from None
        if not samples:
            raise BackendError(f"inspect eval ran no sample {unit.item.item_id!r}", unknown_outcome=True)
        sample = samples[0]
        card = self.cards[unit.model]
        cost, source = sample.get("cost_usd"), "recorded"
        if (
            cost is None
            and sample.get("input_tokens") is not None
            and sample.get("output_tokens") is not None
        ):
            cost = float(
                token_cost(
                    card,
                    sample["input_tokens"],
                    sample.get("cached_input_tokens") or 0,
                    sample["output_tokens"],
                    sample.get("reasoning_tokens") or 0,
                    sample.get("cache_write_tokens") or 0,
                )
            )
            source = "priced"
            others = sample.get("_other_usage") or {}
            if others:  # a model grader's tokens, at the grader's price; one with no price leaves it unknown
                extra = usage_cost(self.book, others) if self.book is not None else None
                cost = None if extra is None else cost + extra
        if cost is None:  # a sample (an errored one, say) whose usage the log does not give: the worst case
            cost, source = self.worst_case_cost(unit), "worst-case"
        return UnitResult(
            score=sample.get("score"),
            status=str(sample.get("status") or "ok"),
            input_tokens=sample.get("input_tokens"),
            cached_input_tokens=sample.get("cached_input_tokens"),
            cache_write_tokens=sample.get("cache_write_tokens"),
            output_tokens=sample.get("output_tokens"),
            reasoning_tokens=sample.get("reasoning_tokens"),
            cost_usd=cost,
            cost_source=source,
            latency_s=sample.get("latency_s") or latency,
        )
