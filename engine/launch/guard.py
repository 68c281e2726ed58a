"""The hard spend cap: reserve a request's worst-case cost before it starts, settle with what it really cost.

A request that could take spend past the cap is never started. Everything runs on one event loop, so a
check and its reservation happen without an await in between and need no lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from evalbudget.engine.stages import within


@dataclass
class SpendGuard:
    cap: float | None
    """Dollars (or rollouts on benchmarks without cost data); None means no cap."""
    spent: float = 0.0
    reserved: float = 0.0
    exhausted: bool = False
    """Set when a request was refused for want of budget."""

    def try_reserve(self, worst_case: float) -> bool:
        if self.cap is not None and not within(self.spent + self.reserved + worst_case, self.cap):
            self.exhausted = True
            return False
        self.reserved += worst_case
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual

    def release(self, reserved: float) -> None:
        """A reserved request that cost nothing (it failed before the provider billed it)."""
        self.reserved -= reserved

    async def spend_on(self, worst_case: float, work: Callable[[], Awaitable[float]]) -> bool:
        """Reserve ``worst_case``, do ``work`` and settle with the cost it returns; False, nothing done, when the
        cap cannot hold the reservation; released if the work fails (a server start, say)."""
        if not self.try_reserve(worst_case):
            return False
        try:
            actual = float(await work())
        except BaseException:
            self.release(worst_case)
            raise
        self.settle(worst_case, actual)
        return True

    @property
    def remaining(self) -> float | None:
        return None if self.cap is None else self.cap - self.spent - self.reserved
