"""Several processes open one new call database at once, as workers started together do.

Opening switches the file to WAL; SQLite refuses that switch at once (``database is
locked``, without waiting for its busy timeout) to all but one of the connections that
race for it. Each store must still open: the race is retried, other errors are not.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from asyncsdk.webhooks import SQLiteCallStore, _store


async def test_stores_opening_one_new_file_at_once_all_open(tmp_path: Path) -> None:
    """Sixty rounds of six stores: without the retry about one round in twelve failed."""
    for round_ in range(60):
        path = tmp_path / f"calls-{round_}.sqlite"
        stores = [SQLiteCallStore(path) for _ in range(6)]
        try:
            await asyncio.gather(*(store.open() for store in stores))
            assert [await store.count() for store in stores] == [{}] * 6
        finally:
            await asyncio.gather(*(store.close() for store in stores))
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            db.close()


def test_a_locked_step_is_run_again_until_it_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_store, "_OPEN_RETRY_DELAY", 0.0)
    answers = [sqlite3.OperationalError("database is locked")] * 2 + [None]
    calls = []

    def step() -> None:
        calls.append(1)
        answer = answers[len(calls) - 1]
        if answer is not None:
            raise answer

    _store._with_busy_retries(step)
    assert len(calls) == 3


def test_other_errors_and_a_lock_past_the_busy_timeout_are_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_store, "_OPEN_RETRY_DELAY", 0.0)

    def broken() -> None:
        raise sqlite3.OperationalError("no such table: calls")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _store._with_busy_retries(broken)

    monkeypatch.setattr(_store, "BUSY_TIMEOUT_MS", 0)

    def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _store._with_busy_retries(locked)
