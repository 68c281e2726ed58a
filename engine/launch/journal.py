"""The launch's journal of money out: each request's reservation is written before the request is sent.

A request in flight when its launch dies (kill -9, a crash, a power cut of the process) may still be
billed, and its launch never learns the outcome. So before a request goes, its worst case is appended to a
journal file beside the store (one small write: it outlives the process, unlike anything still in Python's
memory), and once its outcome is in the store (a rollout, or a worst-case charge) the journal says so.
The next launch to open the store charges every reservation a dead launch left unsettled at its worst case,
in the same ``charges`` table, so the plan's cap counts it; then the journal goes.

A journal line is JSON: ``{"id": N, "unit": [...], "usd": X}`` for a reservation, ``{"answered": N, "usd": Y}``
when its request came back costing Y (charged Y, not X, if the rollout is then lost: the spend guard had
already counted Y), and ``{"settled": [N, ...]}`` once outcomes are durable. A launch that ends normally
removes its journal.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from evalbudget.engine.records import CHARGES, Charge

KILLED = "in flight when its launch died: charged at its worst case"
ANSWERED = "answered, but its launch died before the rollout was stored: charged what it cost"


def journal_folder(conn: duckdb.DuckDBPyConnection) -> Path | None:
    """``<store>.journal/`` beside the store's file; None for an in-memory database."""
    row = conn.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not row or not row[0]:
        return None
    store = Path(str(row[0]))
    return store.with_name(store.name + ".journal")


class Journal:
    """This launch's journal (one file, appended with unbuffered writes)."""

    def __init__(self, folder: Path | None, run_id: str, benchmark: str) -> None:
        self.run_id, self.benchmark = run_id, benchmark
        self.path: Path | None = None
        self._fd: int | None = None
        self._next = 0
        if folder is not None:
            folder.mkdir(exist_ok=True)
            self.path = folder / f"{run_id}-{os.getpid()}.jsonl"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _write(self, entry: dict[str, object]) -> None:
        if self._fd is not None:
            os.write(self._fd, (json.dumps(entry) + "\n").encode())

    def reserve(self, unit: tuple[str, str, str, int], usd: float) -> int:
        """Note a reservation before its request is sent; returns its id for ``settled``."""
        self._next += 1
        self._write(
            {"id": self._next, "unit": list(unit), "usd": usd, "run": self.run_id, "b": self.benchmark}
        )
        return self._next

    def attempt(self, number: int) -> str | None:
        """The attempt's name in the store's charges (None for no reservation, or no journal)."""
        return f"{self.path.stem}#{number}" if number and self.path is not None else None

    def answered(self, number: int, usd: float) -> None:
        """The request came back costing ``usd``: if the launch dies before its rollout is committed, that (not
        the worst case) is what it is charged, as the spend guard already counted."""
        if number:
            self._write({"answered": number, "usd": usd})

    def settled(self, ids: Iterable[int]) -> None:
        """These reservations' outcomes are in the store (or they were released unspent)."""
        done = [i for i in ids if i]
        if done:
            self._write({"settled": done})

    def close(self, *, remove: bool = True) -> None:
        """The launch ended: with every outcome in the store the journal goes (``remove``); otherwise it stays
        for the next launch to charge what it holds."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove and self.path is not None:
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # the folder goes too once no launch's journal is in it
                self.path.parent.rmdir()


def recover(conn: duckdb.DuckDBPyConnection, folder: Path | None) -> float:
    """Charge what dead launches left in flight (their journals' unsettled reservations) at the worst case;
    returns the dollars charged. The caller holds the store for writing, so no journal here is a live one's.

    A reservation whose outcome reached the store although its journal never said so (the launch died between
    the commit and the note) is not charged again: its worst-case charge names it, or its unit's rollout is
    recorded (the unit's earlier unknown attempts were charged before that rollout was)."""
    if folder is None or not folder.is_dir():
        return 0.0
    charges: list[Charge] = []
    journals = sorted(folder.glob("*.jsonl"))
    for path in journals:
        open_reservations: dict[int, dict[str, object]] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the kill: its request was never sent
            if "settled" in entry:
                for number in entry["settled"]:
                    open_reservations.pop(int(number), None)
            elif "answered" in entry and int(entry["answered"]) in open_reservations:
                usd = entry.get("usd")
                if isinstance(usd, int | float) and 0 <= usd < math.inf:
                    open_reservations[int(entry["answered"])] |= {"usd": usd, "answered": True}
            elif "id" in entry and isinstance(entry.get("usd"), int | float) and 0 <= entry["usd"] < math.inf:
                open_reservations[int(entry["id"])] = entry
        now = datetime.now(UTC).replace(tzinfo=None)
        for number, entry in open_reservations.items():
            unit: list[object] = list(entry["unit"])  # type: ignore[call-overload]
            model, scaffold, item_id, repeat = (str(part) for part in unit)
            attempt = f"{path.stem}#{number}"
            if _outcome_stored(conn, attempt, str(entry["run"]), (model, scaffold, item_id, int(repeat))):
                continue
            charges.append(
                Charge(
                    run_id=str(entry["run"]),
                    benchmark=str(entry["b"]),
                    item_id=item_id,
                    model=model,
                    scaffold=scaffold,
                    repeat=int(repeat),
                    cost_usd=float(str(entry["usd"])),
                    reason=ANSWERED if entry.get("answered") else KILLED,
                    charged_at=now,
                    attempt=attempt,
                )
            )
    if charges:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.executemany(
                f"{CHARGES.insert()} VALUES ({', '.join('?' for _ in CHARGES.names)})",
                [charge.values() for charge in charges],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    for path in journals:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
    return sum(charge.cost_usd for charge in charges)


def _outcome_stored(
    conn: duckdb.DuckDBPyConnection, attempt: str, run_id: str, unit: tuple[str, str, str, int]
) -> bool:
    model, scaffold, item_id, repeat = unit
    row = conn.execute(
        """SELECT (SELECT count(*) FROM charges WHERE attempt = ?)
                + (SELECT count(*) FROM rollouts WHERE run_id = ? AND model = ? AND scaffold = ? AND item_id = ?
                   AND "repeat" = ?)""",
        [attempt, run_id, model, scaffold, item_id, repeat],
    ).fetchone()
    return bool(row and row[0])
