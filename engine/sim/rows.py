"""Row-wise numpy work split across the machine's cores.

Replicates are independent rows, and numpy releases the GIL inside sorts, gathers and running sums, so
splitting the rows over a few threads uses every core where one numpy call would use one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np

MIN_ROW_CELLS = 1_000_000
"""Below this many cells a split costs more than it saves."""


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="evalbudget-rows")


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def by_rows(function: Callable[..., Any], *arrays: np.ndarray, min_cells: int = MIN_ROW_CELLS) -> Any:
    """``function(*arrays)`` computed on row blocks in parallel and stacked: for functions that treat each
    row on its own (so the result is the same as one call on the whole arrays). The function returns an
    array, or a tuple of arrays (each stacked). Arrays under ``min_cells`` cells are done in one call."""
    rows = arrays[0].shape[0]
    workers = _workers()
    if workers == 1 or arrays[0].size < min_cells or rows < 2 * workers:
        return function(*arrays)
    spans = list(pairwise(np.linspace(0, rows, workers + 1).astype(int).tolist()))
    # the result's types and trailing shape from no rows at all; then every block writes straight into it,
    # in its own thread: no concatenation afterwards
    empty = function(*(a[:0] for a in arrays))
    single = not isinstance(empty, tuple)
    outs = tuple(np.empty((rows, *e.shape[1:]), dtype=e.dtype) for e in ((empty,) if single else empty))

    def block(span: tuple[int, int]) -> None:
        parts = function(*(a[span[0] : span[1]] for a in arrays))
        for out, part in zip(outs, (parts,) if single else parts, strict=True):
            out[span[0] : span[1]] = part

    list(_pool().map(block, spans))
    return outs[0] if single else outs


def argsort_rows(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, axis=1)``, the rows sorted in parallel."""
    return by_rows(lambda k: np.argsort(k, axis=1), keys)


def places_rows(order: np.ndarray) -> np.ndarray:
    """Each entry's position in its row of ``order`` (the inverse permutation: a scatter, not a second sort)."""

    def rows(order: np.ndarray) -> np.ndarray:
        places = np.empty_like(order)
        places[np.arange(order.shape[0])[:, None], order] = np.arange(order.shape[1])
        return places

    return by_rows(rows, order)
