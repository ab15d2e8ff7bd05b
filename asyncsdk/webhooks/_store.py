"""`SQLiteCallStore`: calls in SQLite, one row per call, only ever moved to a later state.

A row is written from two sources: a webhook event's payload (``source = 'event'``)
and the call fetched with *Get a call* (``source = 'api'``). Events and fetches finish
out of order (Bird retries deliveries; fetches overlap; a worker's entry is replayed
by another after a crash), so an upsert replaces a row only with a state that is not
older:

1. a later status in the lifecycle (accepted < starting < ringing < ongoing <
   completed, no-answer, busy, failed, and statuses the API may add);
2. at the same status, a later ``updatedAt``;
3. at the same status and time, fetched details over an event's payload, and the
   last written among equals.

So a late fetch, or a replayed old event, never moves a row back, and applying an
event twice changes nothing.

For `enrich_stream` (the `StreamStore` protocol) the store also records, in the same
transaction as the rows, which stream entries it committed (table
``stream_entries``: stream, entry id, request id, call id, when). A worker that
crashed between the commit and its ``XACK`` leaves the entry pending; whoever
claims it finds it committed and acknowledges it without fetching again, so each
entry is applied exactly once. Once every consumer group acknowledged an entry, no
worker is given it again: an hour after its commit (``forget_after``) the worker
removes its record (`SQLiteCallStore.forget_before`), so the table holds the last hour
and the backlog, not every event ever received.

The standard library's `sqlite3` runs in one dedicated thread (a one-worker
executor): every statement of a connection on the same thread, the event loop never
blocked, each batch in one transaction. aiosqlite would do the same with a thread per
connection; it is not needed for one connection and batches. Several processes may
share the file (WAL mode, a busy timeout): their upserts commute.

Imports: the standard library, `asyncsdk.models` and the webhooks' `_events`.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeVar, runtime_checkable

from asyncsdk.models import Call
from asyncsdk.webhooks._events import CallEvent

__all__ = [
    "UPSERT",
    "ForgettingStore",
    "Row",
    "SQLiteCallStore",
    "StreamResult",
    "StreamStore",
    "row",
    "state_rank",
]

_T = TypeVar("_T")

_RANK: Final = {"accepted": 0, "starting": 1, "ringing": 2, "ongoing": 3}
#: Rank of a terminal status, and of any status the API may add later.
_FINAL_RANK: Final = 4
_SOURCE_RANK: Final = {"event": 0, "api": 1}
#: Milliseconds a writer waits for another process's transaction on the same file.
BUSY_TIMEOUT_MS: Final = 30_000
#: Seconds between two tries to open a database another process is opening too.
_OPEN_RETRY_DELAY: Final = 0.02


def _with_busy_retries(step: Callable[[], None]) -> None:
    """Run ``step``, again while SQLite answers busy or locked, for the busy timeout.

    The busy timeout bounds the retrying; one try may itself wait up to that long in
    SQLite's busy handler, so a start can take up to about twice it before it fails.

    Processes that open one new file at once race to switch it to WAL: the switch
    needs the file to itself, and SQLite answers ``database is locked`` at once,
    without its busy handler, to the connection that would otherwise deadlock (six
    workers started together failed so about one start in three). Nothing was written
    then, so the step is simply run again.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
            busy = code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(_OPEN_RETRY_DELAY)


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    status TEXT,
    rank INTEGER NOT NULL,
    updated_at REAL,
    source TEXT NOT NULL,
    source_rank INTEGER NOT NULL,
    event TEXT,
    call TEXT NOT NULL,
    error TEXT,
    written_at REAL NOT NULL
)
"""
_ENTRIES_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS stream_entries (
    stream TEXT NOT NULL,
    entry TEXT NOT NULL,
    request_id TEXT,
    call_id TEXT NOT NULL,
    committed_at REAL NOT NULL,
    PRIMARY KEY (stream, entry)
) WITHOUT ROWID
"""
#: Upsert a `Row`, only if it does not move the call back (the rule above).
UPSERT: Final = """
INSERT INTO calls (id, status, rank, updated_at, source, source_rank, event, call, error,
                   written_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
ON CONFLICT (id) DO UPDATE SET
    status = excluded.status, rank = excluded.rank, updated_at = excluded.updated_at,
    source = excluded.source, source_rank = excluded.source_rank, event = excluded.event,
    call = excluded.call, error = NULL, written_at = excluded.written_at
WHERE excluded.rank > calls.rank
   OR (excluded.rank = calls.rank AND (
        coalesce(excluded.updated_at, -1) > coalesce(calls.updated_at, -1)
        OR (coalesce(excluded.updated_at, -1) = coalesce(calls.updated_at, -1)
            AND excluded.source_rank >= calls.source_rank)))
"""
_RECORD_ENTRY: Final = "INSERT OR IGNORE INTO stream_entries VALUES (?, ?, ?, ?, ?)"
# Entry ids ("1733550000000-12") compare as two numbers, not as text ("9-0" < "10-0").
_FORGET: Final = """
DELETE FROM stream_entries WHERE stream = :stream AND entry IN (
  SELECT entry FROM stream_entries
  WHERE stream = :stream AND committed_at < :before
    AND (CAST(substr(entry, 1, instr(entry, '-') - 1) AS INTEGER) < :ms
         OR (CAST(substr(entry, 1, instr(entry, '-') - 1) AS INTEGER) = :ms
             AND CAST(substr(entry, instr(entry, '-') + 1) AS INTEGER) < :seq))
  LIMIT :batch)
"""
_INT_MAX: Final = 2**63 - 1  # SQLite's largest integer; Redis' ids go to 2^64 - 1
#: Records `SQLiteCallStore.forget_before` deletes in one transaction at most.
_FORGET_BATCH: Final = 10_000
#: Records one call of `SQLiteCallStore.forget_before` deletes at most.
_FORGET_MOST: Final = 200_000

#: One upsert: (id, status, rank, updated_at, source, source_rank, event, call JSON, now)
Row = tuple[str, str | None, int, float | None, str, int, str | None, str, float]


def state_rank(status: str | None) -> int:
    """Return where ``status`` stands in a call's lifecycle (higher is later)."""
    if status is None:
        return -1
    return _RANK.get(status, _FINAL_RANK)


def row(call: Call, *, source: str, event: str | None) -> Row:
    """Return the upsert for ``call`` as an event carried it or as *Get a call* returned it."""
    updated = call.updated_at.timestamp() if call.updated_at is not None else None
    return (
        str(call.id),
        call.status,
        state_rank(call.status),
        updated,
        source,
        _SOURCE_RANK[source],
        event,
        call.to_json().decode(),
        time.time(),
    )


@dataclass(frozen=True, slots=True)
class StreamResult:
    """One stream entry, ready to commit: its event and, if fetched, the call's details.

    Attributes:
        entry_id: The entry's id in the stream (``"1733550000000-0"``).
        event: The event the entry holds.
        call: The call *Get a call* returned, or ``None`` when the event's status is
            not one worth a fetch (its payload is stored as it came).
    """

    entry_id: str
    event: CallEvent
    call: Call | None


@runtime_checkable
class StreamStore(Protocol):
    """Where `enrich_stream` commits: idempotent, and knows which entries it committed.

    `SQLiteCallStore` is one. A store of your own must commit each batch atomically
    (the rows and the entry ids together) and never move a call back to an older
    state, so replays are harmless.
    """

    async def committed(self, stream: str, entry_ids: Sequence[str]) -> set[str]:
        """Return which of ``entry_ids`` of ``stream`` were committed already."""
        ...

    async def commit(self, stream: str, results: Sequence[StreamResult]) -> None:
        """Commit ``results`` (rows and entry ids) in one transaction."""
        ...


@runtime_checkable
class ForgettingStore(Protocol):
    """A `StreamStore` that can drop the records of entries no worker is given again.

    `enrich_stream`'s workers call `forget_before` after each claim round, with the
    lowest entry id some consumer group still needs and a time (``forget_after``
    earlier than now); a store without it keeps every record.
    """

    async def forget_before(self, stream: str, entry_id: str, committed_before: float) -> int:
        """Forget ``stream``'s entries below ``entry_id`` committed before a Unix time.

        Returns how many records went.
        """
        ...


class SQLiteCallStore:
    """A SQLite file of calls (see the module for the upsert rule); a `ForgettingStore`.

    Use it as an async context manager, or call `open` and `close`.

    Args:
        path: The database file (created if absent).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncsdk-sqlite")
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.path)!r}>"

    async def __aenter__(self) -> SQLiteCallStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{self!r} is not open: call open() or use 'async with'")
        return self._db

    async def open(self) -> None:
        """Open (or create) the database."""
        await self._run(self._open)

    def _open(self) -> None:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            _with_busy_retries(lambda: self._prepare(db))
        except BaseException:
            db.close()
            raise
        self._db = db

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Switch to WAL and create the tables (each step idempotent, so retried whole)."""
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(_SCHEMA)
            db.execute(_ENTRIES_SCHEMA)
            self._create(db)
            db.commit()
        except sqlite3.OperationalError:
            db.rollback()
            raise

    def _create(self, db: sqlite3.Connection) -> None:
        """Create a subclass's own tables (in the transaction that creates the store's).

        It must be idempotent (``CREATE ... IF NOT EXISTS``): opening is retried whole
        when another process is opening the same new file.
        """

    async def close(self) -> None:
        """Close the database and its thread."""
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def count(self) -> dict[str, int]:
        """Rows by status (``"-"`` for none), for summaries."""
        return await self._run(self._count)

    def _count(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT coalesce(status, '-'), count(*) FROM calls GROUP BY 1")
        return {status: n for status, n in rows}

    async def committed(self, stream: str, entry_ids: Sequence[str]) -> set[str]:
        """Return which of ``entry_ids`` of ``stream`` are committed already."""
        if not entry_ids:
            return set()
        return await self._run(self._committed, stream, tuple(entry_ids))

    def _committed(self, stream: str, entry_ids: tuple[str, ...]) -> set[str]:
        marks = ", ".join("?" * len(entry_ids))
        query = f"SELECT entry FROM stream_entries WHERE stream = ? AND entry IN ({marks})"  # noqa: S608
        return {found for (found,) in self._conn().execute(query, (stream, *entry_ids))}

    async def forget_before(self, stream: str, entry_id: str, committed_before: float) -> int:
        """Forget ``stream``'s entries below ``entry_id`` committed before a Unix time.

        Returns how many records went (``committed_before``: the Unix time). The rows
        of the calls stay; only the memory of which entries were committed goes, for
        entries every consumer group acknowledged (no worker is given them again).
        Entry ids compare as two numbers: ``9-5`` is below ``10-0``. At most 200 000
        records go per call, 10 000 per transaction, so that commits go on meanwhile
        (a table that kept every entry ever committed sheds them over several calls).

        Raises:
            ValueError: ``entry_id`` is not a stream entry id (``"<ms>-<seq>"``).
        """
        parts = re.fullmatch(r"([0-9]+)-([0-9]+)", entry_id)
        if parts is None:
            raise ValueError(f"entry_id must be a stream entry id like '1-0', got {entry_id!r}")
        ms, seq = min(int(parts[1]), _INT_MAX), min(int(parts[2]), _INT_MAX)
        if ms == _INT_MAX:  # SQLite's CAST stops at its largest integer: only ids below it
            seq = 0
        bound = {"stream": stream, "ms": ms, "seq": seq, "before": committed_before}
        forgotten = 0
        while forgotten < _FORGET_MOST:
            batch = min(_FORGET_BATCH, _FORGET_MOST - forgotten)
            went = await self._run(self._forget, {**bound, "batch": batch})
            forgotten += went
            if went < batch:
                break
        return forgotten

    def _forget(self, bound: dict[str, object]) -> int:
        db = self._conn()
        with db:
            return db.execute(_FORGET, bound).rowcount

    async def commit(self, stream: str, results: Sequence[StreamResult]) -> None:
        """Upsert each result's rows and record its entry, in one transaction.

        The event's payload is upserted (``source = 'event'``), then the fetched call
        (``source = 'api'``); the upsert rule keeps each row at its latest state.
        """
        if results:
            await self._run(self._commit, stream, list(results))

    def _commit(self, stream: str, results: list[StreamResult]) -> None:
        db = self._conn()
        now = time.time()
        upserts: list[Row] = []
        entries = []
        for result in results:
            event = result.event
            upserts.append(row(event.payload, source="event", event=event.event))
            if result.call is not None:
                upserts.append(row(result.call, source="api", event=event.event))
            entries.append((stream, result.entry_id, event.request_id, event.call_id, now))
        with db:
            db.executemany(UPSERT, upserts)
            db.executemany(_RECORD_ENTRY, entries)
