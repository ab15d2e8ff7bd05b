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

The upsert rule, the thread the connection lives in and the stream-entry records of
the Redis workers are `asyncsdk.webhooks.SQLiteCallStore`'s; this subclass adds the
listener's ``listen_state``.

Imports: the SDK's public API, `asyncsdk.webhooks._store`, msgspec and the standard
library.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

import asyncsdk
from asyncsdk.webhooks._store import UPSERT, Row, SQLiteCallStore, row, state_rank

__all__ = ["Applied", "CallStore", "Row", "read_calls", "row", "state_rank"]

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


class CallStore(SQLiteCallStore):
    """The listener's SQLite file of calls: `SQLiteCallStore` and the events file's offset.

    The upsert rule is `SQLiteCallStore`'s; this adds how far into each events file the
    rows are applied.

    Args:
        path: The database file (created if absent).
    """

    def _create(self, db: sqlite3.Connection) -> None:
        db.execute(_STATE_SCHEMA)

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
        db = self._conn()
        with db:
            if rows:
                db.executemany(UPSERT, rows)
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
        return await self._run(self._applied, first_line)

    def _applied(self, first_line: str) -> Applied | None:
        db = self._conn()
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
        return await self._run(self._unenriched, tuple(statuses), after, limit)

    def _unenriched(
        self, statuses: tuple[str, ...], after: str, limit: int
    ) -> list[tuple[str, str | None, str]]:
        db = self._conn()
        query = _UNENRICHED.format(statuses=", ".join("?" * len(statuses)))
        return db.execute(query, (after, *statuses, limit)).fetchall()


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
