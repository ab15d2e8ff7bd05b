"""`enrich_stream` in-process against real Redis, SQLite and the embedded server."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from asyncsdk import Client, ConfigurationError
from asyncsdk.cli._calldb import read_calls
from asyncsdk.server import EmbeddedServer
from asyncsdk.webhooks import (
    TERMINAL_STATUSES,
    RedisStreamSink,
    SQLiteCallStore,
    StreamResult,
    StreamUnavailableError,
    enrich_stream,
    trim_acknowledged,
)

from ._redis import RedisServer, run_redis
from ._streams import until
from .test_webhooks_enrich import event_for


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from run_redis()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    yield from run_redis()


def _stream() -> str:
    return f"test:stream:{uuid.uuid4().hex[:8]}"


async def _fill(url: str, stream: str, server: EmbeddedServer, calls: int) -> int:
    """Append each call's events (a non-terminal one, then its dataset status)."""
    ds = server.dataset
    sink = RedisStreamSink(url, stream=stream)
    n = 0
    for call_id in ds.call_ids[:calls]:
        call = ds.call(call_id)
        assert call is not None
        for status in ("ringing", call.status or "completed"):
            await sink(event_for(server, call_id, status))
            n += 1
    await sink.aclose()
    return n


async def test_every_event_is_committed_then_acknowledged_and_the_stream_trimmed(
    redis_server: RedisServer, server: EmbeddedServer, client: Client, tmp_path: Path
) -> None:
    stream = _stream()
    total = await _fill(redis_server.url, stream, server, 20)
    async with SQLiteCallStore(tmp_path / "calls.sqlite") as store:
        worker = enrich_stream(
            client,
            redis_server.url,
            stream=stream,
            group="g",
            consumer="w1",
            store=store,
            workspace_id=server.dataset.workspace_id,
            block=0.1,
            claim_every=0.2,
            forget_after=0.001,
        )
        running = asyncio.create_task(worker.run())
        await until(lambda: worker.stats.acknowledged == total, "every entry acknowledged")
        # acknowledged by the only group: no worker is given them again, the store
        # drops its records of them at a claim round after forget_after
        await until(lambda: worker.stats.forgotten == total, "every record forgotten")
        worker.stop()
        stats = await running
    rows = read_calls(tmp_path / "calls.sqlite")
    ds = server.dataset
    assert len(rows) == 20
    for call_id in ds.call_ids[:20]:
        status, source, stored = rows[str(call_id)]
        expected = ds.call(call_id)
        assert expected is not None
        if expected.status in TERMINAL_STATUSES:
            assert (status, source, stored) == (expected.status, "api", expected)
    terminal = sum(1 for c in ds.call_ids[:20] if (ds.call(c) or c).status in TERMINAL_STATUSES)  # type: ignore[union-attr]
    assert stats.enriched == terminal
    assert stats.enriched + stats.passed == total
    async with aioredis.Redis.from_url(redis_server.url) as r:
        assert (await r.xpending(stream, "g"))["pending"] == 0
        await trim_acknowledged(r, stream)
        assert await r.xlen(stream) == 0
    db = sqlite3.connect(tmp_path / "calls.sqlite")
    assert db.execute("SELECT count(*) FROM stream_entries").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM calls").fetchone()[0] == 20  # the rows stay


async def test_the_store_forgets_entries_below_an_id_as_numbers_not_text(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """``9-5`` is below ``10-0`` (as text it is not); other streams keep theirs."""
    ids = ["9-5", "10-0", "10-3", "10-10", "11-0", "100-0"]
    event = event_for(server, server.dataset.call_ids[0], "ringing")
    async with SQLiteCallStore(tmp_path / "calls.sqlite") as store:
        for stream in ("a", "b"):
            await store.commit(stream, [StreamResult(i, event, None) for i in ids])
        now = time.time()
        assert await store.forget_before("a", "100-0", now - 60) == 0  # too recent
        assert await store.forget_before("a", "10-3", now + 1) == 2
        assert await store.committed("a", ids) == {"10-3", "10-10", "11-0", "100-0"}
        assert await store.forget_before("a", "11-0", now + 1) == 2
        assert await store.committed("a", ids) == {"11-0", "100-0"}
        assert await store.committed("b", ids) == set(ids)
        assert await store.forget_before("b", "0-0", now + 1) == 0
        with pytest.raises(ValueError, match="stream entry id"):
            await store.forget_before("a", "10", now + 1)
        assert await store.count() == {"ringing": 1}


async def test_the_store_forgets_a_large_table_in_small_transactions_over_several_calls(
    server: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table that kept every entry ever committed is not emptied in one transaction.

    Each transaction deletes a batch (commits go on between them), and each call a
    bounded number, the rest at the next call; recent records and other streams stay.
    """
    from asyncsdk.webhooks import _store

    monkeypatch.setattr(_store, "_FORGET_BATCH", 2)
    monkeypatch.setattr(_store, "_FORGET_MOST", 5)
    event = event_for(server, server.dataset.call_ids[0], "ringing")
    ids = [f"{n}-0" for n in range(1, 12)]
    async with SQLiteCallStore(tmp_path / "calls.sqlite") as store:
        await store.commit("a", [StreamResult(i, event, None) for i in ids])
        await store.commit("b", [StreamResult(i, event, None) for i in ids])
        deletes: list[str] = []
        db = store._db
        assert db is not None

        def trace(sql: str) -> None:
            if sql.lstrip().startswith("DELETE"):
                deletes.append(sql)

        await store._run(db.set_trace_callback, trace)  # on the store's own thread
        now = time.time() + 1
        assert [await store.forget_before("a", "11-0", now) for _ in range(4)] == [5, 5, 0, 0]
        assert len(deletes) == 3 + 3 + 1 + 1  # 2 + 2 + 1, twice; then nothing left
        assert await store.committed("a", ids) == {"11-0"}
        assert await store.committed("b", ids) == set(ids)


async def test_the_store_forgets_below_any_redis_id_and_refuses_what_is_not_one(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """Ids past SQLite's integers (Redis' go to 2^64 - 1) never forget an entry above them."""
    top = 2**64 - 1
    ids = ["5-0", f"{2**63}-0", f"{top}-3", f"{top}-{top}"]
    event = event_for(server, server.dataset.call_ids[0], "ringing")
    async with SQLiteCallStore(tmp_path / "calls.sqlite") as store:
        await store.commit("a", [StreamResult(i, event, None) for i in ids])
        now = time.time() + 1
        assert await store.forget_before("a", f"{top}-0", now) >= 1
        assert await store.committed("a", ids) >= {f"{top}-3", f"{top}-{top}"}
        assert "5-0" not in await store.committed("a", ids)
        assert await store.forget_before("a", f"{top}-{top}", now) >= 0
        assert f"{top}-{top}" in await store.committed("a", ids)
        for bad in ("\u0661-0", "1-\u00b2", "-1-0", "1-", "1"):
            with pytest.raises(ValueError, match="stream entry id"):
                await store.forget_before("a", bad, now)


class _CommitsThenHangs(SQLiteCallStore):
    """Commits, then never returns: a worker killed between its commit and its XACK."""

    async def commit(self, stream: str, results: Sequence[StreamResult]) -> None:
        await super().commit(stream, results)
        self.did_commit.set()
        await asyncio.Event().wait()

    did_commit: asyncio.Event


async def test_an_entry_committed_but_not_acknowledged_is_acknowledged_without_a_fetch(
    redis_server: RedisServer, server: EmbeddedServer, client: Client, tmp_path: Path
) -> None:
    stream = _stream()
    ds = server.dataset
    call_id = next(c for c in ds.call_ids if (ds.call(c) or c).status == "completed")  # type: ignore[union-attr]
    sink = RedisStreamSink(redis_server.url, stream=stream)
    await sink(event_for(server, call_id, "completed"))
    await sink.aclose()
    path = tmp_path / "calls.sqlite"
    hanging = _CommitsThenHangs(path)
    hanging.did_commit = asyncio.Event()
    await hanging.open()
    options = dict(
        stream=stream,
        group="g",
        store=hanging,
        workspace_id=ds.workspace_id,
        min_idle=0.2,
        claim_every=0.1,
        block=0.1,
    )
    first = enrich_stream(client, redis_server.url, consumer="dies", **options)  # type: ignore[arg-type]
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(hanging.did_commit.wait(), 60)
    running.cancel()  # killed after the commit, before XACK
    await asyncio.gather(running, return_exceptions=True)
    await hanging.close()
    fetched = len(server.requests)
    async with SQLiteCallStore(path) as store:
        options["store"] = store
        second = enrich_stream(client, redis_server.url, consumer="survivor", **options)  # type: ignore[arg-type]
        running = asyncio.create_task(second.run())
        await until(lambda: second.stats.acknowledged == 1, "the entry acknowledged")
        second.stop()
        stats = await running
    assert (stats.replayed, stats.enriched) == (1, 0)
    assert len(server.requests) == fetched  # not fetched again
    async with aioredis.Redis.from_url(redis_server.url) as r:
        assert (await r.xpending(stream, "g"))["pending"] == 0


async def test_a_call_that_always_404s_goes_to_the_dead_letters_with_the_reason(
    redis_server: RedisServer, server: EmbeddedServer, client: Client, tmp_path: Path
) -> None:
    stream = _stream()
    ds = server.dataset
    good = ds.call_ids[0]
    sink = RedisStreamSink(redis_server.url, stream=stream)
    poison = event_for(server, good, "completed", id=str(uuid.uuid4()))
    await sink(poison)
    await sink(event_for(server, good, "completed"))
    async with aioredis.Redis.from_url(redis_server.url) as r:
        await r.xadd(stream, {"v": "1", "event": b"{not json"})  # does not decode
        await r.xadd(stream, {"something": "else"})  # not ours
    await sink.aclose()
    async with SQLiteCallStore(tmp_path / "calls.sqlite") as store:
        worker = enrich_stream(
            client,
            redis_server.url,
            stream=stream,
            group="g",
            consumer="w",
            store=store,
            workspace_id=ds.workspace_id,
            min_idle=0.5,
            claim_every=0.1,
            block=0.05,
            max_deliveries=3,
        )
        running = asyncio.create_task(worker.run())
        await until(lambda: worker.stats.dead_lettered == 3, "three dead letters")
        worker.stop()
        stats = await running
    # The 404, delivered three times at least (a claim that comes while a fetch is slower
    # than min_idle counts a delivery too): fetched each time it was not in flight.
    assert 1 <= stats.failed <= 3
    assert stats.enriched == 1
    async with aioredis.Redis.from_url(redis_server.url) as r:
        dead = await r.xrange(worker.dead_letters)
        assert (await r.xpending(stream, "g"))["pending"] == 0
    reasons = sorted(fields[b"reason"].decode() for _, fields in dead)
    assert len(reasons) == 3
    assert reasons[0].startswith("InvalidEventError")
    assert reasons[1].startswith("InvalidEventError")
    assert reasons[2].startswith("NotFoundError")
    by_reason = {fields[b"reason"].decode()[:8]: fields for _, fields in dead}
    assert int(by_reason["NotFound"][b"deliveries"]) >= 3
    assert by_reason["NotFound"][b"entry.event"] == poison.to_json()


async def test_redis_restarted_empty_the_worker_waits_recreates_its_group_and_goes_on(
    own_redis: RedisServer, server: EmbeddedServer, client: Client, tmp_path: Path
) -> None:
    stream = _stream()
    ds = server.dataset
    await _fill(own_redis.url, stream, server, 2)
    async with SQLiteCallStore(tmp_path / "calls.sqlite") as store:
        worker = enrich_stream(
            client,
            own_redis.url,
            stream=stream,
            group="g",
            consumer="w",
            store=store,
            workspace_id=ds.workspace_id,
            block=0.05,
            claim_every=0.1,
        )
        running = asyncio.create_task(worker.run())
        await until(lambda: worker.stats.acknowledged == 4, "the first events")
        own_redis.stop()
        await until(lambda: worker.stats.redis_errors > 0, "the worker to see Redis gone")
        own_redis.start()
        sink = RedisStreamSink(own_redis.url, stream=stream)
        await sink(event_for(server, ds.call_ids[5], "completed"))
        await sink.aclose()
        await until(lambda: worker.stats.acknowledged == 5, "the event after the restart")
        worker.stop()
        await running
    assert not running.exception()


async def test_a_worker_stopped_while_redis_is_down_ends_instead_of_waiting_for_it(
    own_redis: RedisServer, server: EmbeddedServer, client: Client, tmp_path: Path
) -> None:
    async with SQLiteCallStore(tmp_path / "calls.sqlite") as store:
        worker = enrich_stream(
            client,
            own_redis.url,
            stream=_stream(),
            group="g",
            consumer="w",
            store=store,
            workspace_id=server.dataset.workspace_id,
            block=0.05,
        )
        running = asyncio.create_task(worker.run())
        await until(lambda: worker.stats.redis_errors == 0 and worker.held == 0, "a start")
        own_redis.stop()
        await until(lambda: worker.stats.redis_errors > 0, "the worker to see Redis gone")
        worker.stop()
        with pytest.raises(StreamUnavailableError, match="stay pending"):
            await asyncio.wait_for(running, 60)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group": ""}, "group"),
        ({"consumer": ""}, "consumer"),
        ({"batch": 0}, "batch"),
        ({"min_idle": 0}, "min_idle"),
        ({"max_deliveries": 0}, "max_deliveries"),
        ({"store": object()}, "StreamStore"),
    ],
)
async def test_bad_settings_say_what_to_pass(
    kwargs: dict[str, object], message: str, tmp_path: Path
) -> None:
    options: dict[str, object] = {
        "group": "g",
        "consumer": "c",
        "store": SQLiteCallStore(tmp_path / "x.sqlite"),
        "workspace_id": uuid.uuid4(),
        **kwargs,
    }
    async with Client(access_key="k") as client:
        with pytest.raises(ConfigurationError, match=message):
            enrich_stream(client, "redis://127.0.0.1:1/0", **options)  # type: ignore[arg-type]
