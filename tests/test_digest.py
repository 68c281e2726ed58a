"""A file's content hash, started ahead on a thread, is the file's hash; a file changed since is hashed again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from evalbudget.engine import digest


def _write(path: Path, byte: bytes) -> str:
    data = byte * (9 << 20)  # above the size worth a thread
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_a_hash_started_ahead_is_the_files_hash(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    expected = _write(path, b"a")
    digest.hash_ahead(
        [path, tmp_path, tmp_path / "missing.csv"]
    )  # a folder and a missing path are passed over
    assert len(digest._ahead) == 1
    assert digest.sha256_of(path) == expected
    assert not digest._ahead  # used once


def test_a_file_changed_after_its_hash_was_started_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    _write(path, b"a")
    digest.hash_ahead([path])
    stat = path.stat()
    expected = _write(path, b"b")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert digest.sha256_of(path) == expected
    digest.forget_ahead()
    assert not digest._ahead
