"""Files are known by their content (SHA-256). A command that will hash large files starts on them at once,
on a thread, while the interpreter still imports DuckDB and opens the store: hashing releases the GIL, so the
second core does it for free. Imports nothing heavy, so that it can run first."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

_BLOCK = 1 << 20
_AHEAD_MIN_BYTES = 8 << 20
"""Smaller files are hashed when needed: a thread would save nothing on them."""

_ahead: dict[tuple[str, int, int], Future[str]] = {}
_pool: ThreadPoolExecutor | None = None


def sha256_of(path: Path) -> str:
    """The file's SHA-256 (hex), from a hash started ahead when one was, for these same bytes."""
    key = _key(path)
    future = _ahead.pop(key, None) if key is not None else None
    if future is not None and not future.cancelled():
        return future.result()
    return _hash(path)


def hash_ahead(paths: Iterable[Path]) -> None:
    """Start hashing each large regular file among ``paths`` on a background thread."""
    global _pool
    for path in paths:
        key = _key(path)
        if key is None or key[2] < _AHEAD_MIN_BYTES or key in _ahead:
            continue
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalbudget-hash")
        _ahead[key] = _pool.submit(_hash, path)


def forget_ahead() -> None:
    """Cancel the hashes not yet started (the command ended before it needed them)."""
    for future in _ahead.values():
        future.cancel()
    _ahead.clear()


def _key(path: Path) -> tuple[str, int, int] | None:
    """The file as a hash ahead knows it: where, and its modification time and size (a file changed since is
    hashed again)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
