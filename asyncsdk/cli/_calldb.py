"""`CallStore`: calls in SQLite, one row per call, only ever moved to a later state.

A row is written from two sources: a webhook event's payload (``source = 'event'``)
and the call fetched with *Get a call* (``source = 'api'``). Events and fetches finish
out of order (Bird retries deliveries; fetches overlap), so an upsert replaces a row
only with a state that is not older:

1. a later status in the lifecycle (accepted < starting < ringing < ongoing <
   completed, no-answer, busy, failed, and statuses the API may add);
2. at the same status, a later ``updatedAt``;
3. at the same status and time, fetched details over an event's payload, and the
   last written among equals.

So an event's late fetch, or a retried old event, never overwrites a newer state, and
applying an event twice changes nothing: a listener that restarts replays its events
file into the database without harm.

Beside the calls, the ``listen_state`` table keeps how far into each events file the
rows are applied (key ``applied:<digest of the file's first line>``, value the byte
offset after the last event applied), written in the same transaction as the rows.
Keyed by file, so listeners with their own files (one per subscription, say) may
share a database: each keeps its own offset, and the upsert rule makes their writes
commute. `CallStore.unenriched` lists the finished calls whose details were not
fetched yet.

The standard library's `sqlite3` runs in one dedicated thread (a one-worker
executor): every statement of a connection on the same thread, the event loop never
blocked, and each batch of upserts in one transaction. aiosqlite would do the same
with a thread per connection; it is not needed for one connection and batches.

Imports: the SDK's public API, msgspec and the standard library.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

import asyncsdk

__all__ = ["Applied", "CallStore", "Row", "state_rank"]

_RANK: Final = {"accepted": 0, "starting": 1, "ringing": 2, "ongoing": 3}
#: Rank of a terminal status, and of any status the API may add later.
_FINAL_RANK: Final = 4
_SOURCE_RANK: Final = {"event": 0, "api": 1}

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
_UPSERT: Final = """
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
_NOTE_ERROR: Final = "UPDATE calls SET error = ? WHERE id = ? AND source = 'event'"
_STATE_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS listen_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
)
_SET_STATE: Final = "INSERT OR REPLACE INTO listen_state (key, value) VALUES (?, ?)"
_UNENRICHED: Final = """
SELECT id, event, call FROM calls
WHERE source = 'event' AND id > ? AND status IN ({statuses})
ORDER BY id LIMIT ?
"""

#: One upsert: (id, status, rank, updated_at, source, source_rank, event, call JSON, now)
Row = tuple[str, str | None, int, float | None, str, int, str | None, str, float]


@dataclass(frozen=True, slots=True)
class Applied:
    """How far into the events file the database reflects the events.

    Attributes:
        offset: Byte offset just after the last event applied.
        first_line: A digest of the file's first line (another file does not match).
    """

    offset: int
    first_line: str


def _applied_key(first_line: str) -> str:
    """Return the ``listen_state`` key of an events file's offset."""
    return f"applied:{first_line}"


def state_rank(status: str | None) -> int:
    """Return where ``status`` stands in a call's lifecycle (higher is later)."""
    if status is None:
        return -1
    return _RANK.get(status, _FINAL_RANK)


def row(call: asyncsdk.Call, *, source: str, event: str | None) -> Row:
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


class CallStore:
    """A SQLite file of calls, written from one thread; see the module for the upsert rule.

    Args:
        path: The database file (created if absent).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncsdk-sqlite")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: object, *args: object) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    async def open(self) -> None:
        """Open (or create) the database."""
        await self._run(self._open)

    def _open(self) -> None:
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(_SCHEMA)
        db.execute(_STATE_SCHEMA)
        db.commit()
        self._db = db

    async def write(
        self, rows: list[Row], errors: list[tuple[str, str]], applied: Applied | None = None
    ) -> None:
        """Upsert ``rows``, note ``(error, call_id)`` fetch failures, and record ``applied``.

        All in one transaction: the offset never runs ahead of the rows.
        """
        await self._run(self._write, rows, errors, applied)

    def _write(
        self, rows: list[Row], errors: list[tuple[str, str]], applied: Applied | None
    ) -> None:
        db = self._db
        assert db is not None
        with db:
            if rows:
                db.executemany(_UPSERT, rows)
            if errors:
                db.executemany(_NOTE_ERROR, errors)
            if applied is not None:
                db.execute(_SET_STATE, (_applied_key(applied.first_line), str(applied.offset)))

    async def applied(self, first_line: str) -> Applied | None:
        """Return how far into the events file ``first_line`` names the rows are applied.

        Args:
            first_line: The digest of the file's first line (`Applied.first_line`).

        Returns:
            What was recorded for that file, or ``None`` (nothing yet).
        """
        result = await self._run(self._applied, first_line)
        assert result is None or isinstance(result, Applied)
        return result

    def _applied(self, first_line: str) -> Applied | None:
        db = self._db
        assert db is not None
        query = "SELECT value FROM listen_state WHERE key = ?"
        found = db.execute(query, (_applied_key(first_line),)).fetchone()
        offset = str(found[0]) if found is not None else ""
        return Applied(int(offset), first_line) if offset.isdigit() else None

    async def unenriched(
        self, statuses: Collection[str], *, after: str = "", limit: int = 500
    ) -> list[tuple[str, str | None, str]]:
        """Return up to ``limit`` rows at one of ``statuses`` not yet fetched, by id.

        Each is ``(id, event name, call JSON)``, ids above ``after`` in order: call again
        with the last id to page through them.
        """
        result = await self._run(self._unenriched, tuple(statuses), after, limit)
        assert isinstance(result, list)
        return result

    def _unenriched(
        self, statuses: tuple[str, ...], after: str, limit: int
    ) -> list[tuple[str, str | None, str]]:
        db = self._db
        assert db is not None
        query = _UNENRICHED.format(statuses=", ".join("?" * len(statuses)))
        return db.execute(query, (after, *statuses, limit)).fetchall()

    async def close(self) -> None:
        """Close the database and its thread."""
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def count(self) -> dict[str, int]:
        """Rows by status (``"-"`` for none), for summaries."""
        result = await self._run(self._count)
        assert isinstance(result, dict)
        return result

    def _count(self) -> dict[str, int]:
        db = self._db
        assert db is not None
        rows = db.execute("SELECT coalesce(status, '-'), count(*) FROM calls GROUP BY 1")
        return {status: n for status, n in rows}


def read_calls(path: Path) -> dict[str, tuple[str | None, str, asyncsdk.Call]]:
    """Read every row: ``{id: (status, source, call)}`` (for tests and checks)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT id, status, source, call FROM calls").fetchall()
    finally:
        db.close()
    return {
        call_id: (status, source, msgspec.json.decode(call, type=asyncsdk.Call))
        for call_id, status, source, call in rows
    }
