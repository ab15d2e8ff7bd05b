"""The stream sink on a Redis out of memory: a delivery is stored and remembered, or neither.

Redis does not roll back a script that fails partway. Were the dedupe key's ``SET`` to
fail after the entry's ``XADD``, Bird's retry would append the event a second time.
Redis refuses memory-growing commands past ``maxmemory`` only while a script has not
written yet; once it has, its later writes go through. These tests hold the sink to
that against a real ``redis-server`` at its limit (``noeviction``):

- over the limit, a delivery gets 503 and nothing is written, then is stored once;
- one batch that crosses the limit after its first append stores and remembers every
  delivery in it, so their retries are duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from asyncsdk.webhooks import RedisStreamSink, StreamUnavailableError, decode_entry, parse_event
from asyncsdk.webhooks._append import APPEND, append_merge, split_answers
from asyncsdk.webhooks._stream import ENTRY_VERSION, dedupe_key

from ._redis import RedisServer, run_redis
from ._webhooks import event_body


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A server of its own: these tests change its ``maxmemory``."""
    yield from run_redis()


async def _limit(r: aioredis.Redis, over_by: int) -> None:
    """Set ``maxmemory`` to what Redis uses now minus ``over_by`` bytes (0: no limit)."""
    await r.config_set("maxmemory-policy", "noeviction")
    if over_by == 0:
        await r.config_set("maxmemory", 0)
        return
    used = int((await r.info("memory"))["used_memory"])
    await r.config_set("maxmemory", max(1, used - over_by))


async def test_over_maxmemory_a_delivery_gets_503_writes_nothing_then_is_stored_once(
    redis_server: RedisServer,
) -> None:
    stream = f"test:oom:{uuid.uuid4().hex[:8]}"
    sink = RedisStreamSink(redis_server.url, stream=stream)
    event = parse_event(event_body(uuid.uuid4()), request_id="oom-1")
    async with aioredis.Redis.from_url(redis_server.url) as r:
        await r.xadd(stream, {"warm": "up"})  # the stream exists: only growth is refused
        await _limit(r, over_by=1024)
        with pytest.raises(StreamUnavailableError, match="OutOfMemoryError"):
            await sink.store_delivery(event, ("oom-1", "sig-1"))
        assert await r.xlen(stream) == 1
        assert await r.exists(dedupe_key(stream, "rid", "oom-1")) == 0
        await _limit(r, over_by=0)
        assert await sink.store_delivery(event, ("oom-1", "sig-1")) is True
        assert await sink.store_delivery(event, ("oom-1", "sig-1")) is False
        entries = await r.xrange(stream)
    assert [decode_entry(f).request_id for _, f in entries[1:]] == ["oom-1"]
    assert (sink.stats.unavailable, sink.stats.appended, sink.stats.duplicates) == (1, 1, 1)
    await sink.aclose()


async def test_a_batch_that_crosses_maxmemory_stores_and_remembers_every_delivery(
    redis_server: RedisServer,
) -> None:
    """Room for 1.5 appends of 400 KB: the batch's first append crosses the limit.

    Redis counts a call's arguments while it runs, so the batch starts with 400 KB used
    of 600 KB and its first append takes the rest and more; every later write of the
    batch goes through. The control, the same 800 KB above the start in use when a
    call begins, is refused before it writes anything.
    """
    stream = f"test:oom:{uuid.uuid4().hex[:8]}"
    merge = append_merge(stream, ttl_ms=60_000, maxlen=0, version=ENTRY_VERSION)
    size = 400_000

    def delivery(name: str, *, padding: int = 0) -> tuple[list[str], list[bytes]]:
        event = parse_event(event_body(uuid.uuid4()), request_id=name)
        keys = [dedupe_key(stream, "rid", name), dedupe_key(stream, "sig", f"sig-{name}")]
        return keys, [event.to_json() + b" " * padding, b""]  # JSON allows the spaces

    async with aioredis.Redis.from_url(redis_server.url) as r:
        script = r.register_script(APPEND)
        warm = merge.pack([delivery("warm", padding=size)])  # script loaded, buffers grown
        await script(keys=warm[0], args=warm[1])
        await _limit(r, over_by=-(size * 3 // 2))
        calls = [delivery("big", padding=size), *(delivery(f"after-{n}") for n in range(3))]
        keys, args = merge.pack(calls)
        answers = split_answers(await script(keys=keys, args=args), len(calls))
        assert [outcome for outcome, _ in answers] == [1, 1, 1, 1]
        for call_keys, _ in calls:  # every delivery remembered, by each of its keys
            assert await r.exists(*call_keys) == len(call_keys)
        control = merge.pack([delivery("control", padding=size)])
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            await script(keys=control[0], args=control[1])
        assert await r.exists(*control[0][1:]) == 0  # [0] is the stream
        again = split_answers(await script(keys=keys, args=args), len(calls))
        assert [outcome for outcome, _ in again] == [0, 0, 0, 0]  # retries: duplicates
        assert [detail for _, detail in again] == [detail for _, detail in answers]
        assert await r.xlen(stream) == 1 + len(calls)
        await _limit(r, over_by=0)
