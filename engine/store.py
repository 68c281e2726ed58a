"""The store: one DuckDB file holding runs, items and rollouts, with numbered migrations.

DuckDB lets one process write a file at a time, and a writer shuts readers out too. Commands that only
read open the file read-only; a writer leaves a small ``<store>.holder`` note beside the file saying who
it is, so a second process that is refused can tell the user which command holds the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from evalbudget.engine.errors import StoreError, StoreLockedError
from evalbudget.engine.paths import default_store_path

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped with this version, in order."""
    found = []
    for entry in resources.files("evalbudget.engine.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


def latest_schema_version() -> int:
    return migrations()[-1][0]


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The store's schema version; 0 for a file with no evalbudget tables yet."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations the store lacks, all in one transaction; returns the new version."""
    current = schema_version(conn)
    pending = [m for m in migrations() if m[0] > current]
    if not pending:
        return current
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
        )
        for version, name, sql in pending:
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                [version, name, _now()],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return pending[-1][0]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """An open store. Use ``open_store``; close it (or use it as a context manager) when done."""

    def __init__(self, path: Path, conn: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        self.path = path
        self.conn = conn
        self.read_only = read_only

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()
        if not self.read_only:
            with contextlib.suppress(FileNotFoundError):
                holder = _holder_path(self.path)
                if _read_holder(holder).get("pid") == os.getpid():
                    holder.unlink()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Everything inside commits together or not at all."""
        self.conn.execute("BEGIN TRANSACTION")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


def open_store(
    path: Path | str | None = None,
    *,
    write: bool = False,
    purpose: str | None = None,
    wait_s: float = 1.0,
) -> Store:
    """Open (creating and seeding from sample_runs/ if missing) the store at ``path``.

    ``purpose`` is what this process is doing, shown to any other process the store refuses
    (default: this process's command line). A held store is retried for ``wait_s`` seconds, then refused
    with one sentence naming the holder.
    """
    store_path = Path(path).expanduser() if path is not None else default_store_path()
    if not store_path.exists():
        _create(store_path)
    conn = _connect(store_path, read_only=not write, wait_s=wait_s)
    try:
        version = schema_version(conn)
        latest = latest_schema_version()
        if version > latest:
            raise StoreError(
                f"The store {store_path} was written by a newer evalbudget (schema version {version}; "
                f"this one knows up to {latest}): upgrade evalbudget to open it."
            )
        if version < latest:
            if not write:
                conn.close()
                with open_store(store_path, write=True, purpose="upgrading the store", wait_s=wait_s):
                    pass
                conn = _connect(store_path, read_only=True, wait_s=wait_s)
            else:
                migrate(conn)
    except BaseException:
        conn.close()
        raise
    if write:
        _write_holder(store_path, purpose)
    else:
        _forget_dead_holder(store_path)
    return Store(store_path, conn, read_only=not write)


def _connect(path: Path, *, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreError(f"The store {path} could not be opened: {_first_line(exc)}") from exc
            if time.monotonic() >= deadline:
                raise StoreLockedError(_locked_message(path, str(exc), read_only)) from exc
            time.sleep(0.1)
        except duckdb.Error as exc:
            raise StoreError(f"The store {path} could not be opened: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _locked_message(path: Path, duckdb_message: str, read_only: bool) -> str:
    match = _LOCK_PID.search(duckdb_message)
    pid = int(match.group(1)) if match else None
    holder = _read_holder(_holder_path(path))
    if holder and (pid is None or holder.get("pid") == pid):
        who = f"`{holder.get('purpose')}` (PID {holder.get('pid')}, since {holder.get('since')})"
    elif pid is not None:
        who = f"another process (PID {pid})"
    else:
        who = "another process"
    wanted = "read" if read_only else "write to"
    return (
        f"The store {path} is held for writing by {who}, so this command cannot {wanted} it; "
        "wait for that command to finish (or close the evalbudget app) and run this again."
    )


def _holder_path(path: Path) -> Path:
    return path.with_name(path.name + ".holder")


def _read_holder(holder: Path) -> dict[str, object]:
    try:
        data = json.loads(holder.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _forget_dead_holder(path: Path) -> None:
    """A holder note whose process is gone (a kill -9) says nothing true: remove it."""
    holder = _holder_path(path)
    pid = _read_holder(holder).get("pid")
    if isinstance(pid, int) and pid != os.getpid() and not _alive(pid):
        with contextlib.suppress(OSError):
            holder.unlink()


def _write_holder(path: Path, purpose: str | None) -> None:
    text = purpose or "evalbudget " + " ".join(sys.argv[1:])
    note = {"pid": os.getpid(), "purpose": text.strip(), "since": _now().isoformat(timespec="seconds")}
    with contextlib.suppress(OSError):  # the note is a courtesy; a read-only folder must not stop work
        _holder_path(path).write_text(json.dumps(note))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_stale_builds(path: Path) -> None:
    """Half-built stores left by a process that was killed while creating one (its pid is gone)."""
    for leftover in path.parent.glob(f".{path.name}.*.building*"):
        pid = leftover.name.removeprefix(f".{path.name}.").split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _create(path: Path) -> None:
    """Build a new store beside its final path, then move it into place, so a failure leaves nothing."""
    from evalbudget.engine.sample import seed_sample_runs

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((folder for folder in path.parents if folder.is_file()), None)
        reason = f"{blocker} is a file, not a folder" if blocker else f"{exc.strerror} ({path.parent})"
        raise StoreError(f"The store {path} cannot be created: {reason}.") from None
    _remove_stale_builds(path)
    building = path.with_name(f".{path.name}.{os.getpid()}.building")
    building.unlink(missing_ok=True)
    try:
        conn = duckdb.connect(str(building))
        try:
            migrate(conn)
            seed_sample_runs(conn)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        if path.exists():  # another process created it meanwhile: keep theirs
            return
        os.replace(building, path)
    finally:
        building.unlink(missing_ok=True)
        Path(str(building) + ".wal").unlink(missing_ok=True)


class SharedStore:
    """One process's single connection to its store, shared by threads through cursors (the app's workers).

    It reads through a read-only connection, opened while any cursor is out and closed when the last one is
    back, so other evalbudget commands can read, and write, the store between the app's reads. For a launch,
    ``writing()`` reopens it for writing once no cursor is out; until the launch ends, readers get cursors on
    the writing connection (DuckDB allows one configuration per file in a process, so a second read-only
    connection would be refused). Afterwards it is read-only again.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self._state = threading.Condition()
        self._store: Store | None = None
        self._cursors = 0
        self._switching = False
        self._writing = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[Store]:
        """A cursor of the shared connection, as a Store, for one worker's reads."""
        with self._state:
            self._state.wait_for(lambda: not self._switching)
            if self._store is None:
                self._store = open_store(self.path)
            parent = self._store
            self._cursors += 1
        cursor: duckdb.DuckDBPyConnection | None = None
        try:
            cursor = parent.conn.cursor()
            yield Store(self.path, cursor, read_only=True)
        finally:
            if cursor is not None:
                cursor.close()
            with self._state:
                self._cursors -= 1
                if not self._cursors and not self._writing and self._store is not None:
                    # let go between reads: another process (an ingest, a launch) may then write the store
                    self._store.close()
                    self._store = None
                self._state.notify_all()

    @contextlib.contextmanager
    def writing(self, purpose: str) -> Iterator[Store]:
        """The store open for writing (one writer at a time) until the block ends; readers go on meanwhile."""
        self._reopen(write=True, purpose=purpose)
        assert self._store is not None
        try:
            cursor = self._store.conn.cursor()
            try:
                yield Store(self.path, cursor, read_only=False)
            finally:
                cursor.close()
        finally:
            self._reopen(write=False)

    def _reopen(self, *, write: bool, purpose: str | None = None) -> None:
        with self._state:
            self._state.wait_for(lambda: not self._switching)
            if write and self._store is not None and not self._store.read_only:
                raise StoreError(f"The store {self.path} is already open for a launch in this app.")
            self._switching = True
            try:
                self._state.wait_for(lambda: self._cursors == 0)
                if self._store is not None:
                    self._store.close()
                    self._store = None
                if write:
                    self._store = open_store(self.path, write=True, purpose=purpose)
                self._writing = write
            finally:
                self._switching = False
                self._state.notify_all()

    def close(self) -> None:
        """Close once every cursor is back and any launch writing through it has finished."""
        with self._state:
            self._state.wait_for(lambda: self._cursors == 0 and not self._writing and not self._switching)
            if self._store is not None:
                self._store.close()
                self._store = None
