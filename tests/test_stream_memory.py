"""The stream sink on a Redis out of memory: a delivery is stored and remembered, or neither.

Redis does not roll back a script that fails partway. Were the dedupe key's ``SET`` to
fail after the entry's ``XADD``, Bird's retry would append the event a second time.
Redis decides whether memory is past ``maxmemory`` when a script starts
(``pre_command_oom_state`` in 7, ``lua_oom`` in 6.2) and then refuses only the
script's first memory-growing write; once it has written, its later writes go
through. These tests hold the sink to that against a real ``redis-server`` at its
limit (``noeviction``):

- over the limit, a delivery gets 503 and nothing is written, then is stored once;
- a batch is stored and remembered whole, or refused before its first write, at
  every limit from the memory in use up; one that crosses the limit after its first
  append stores and remembers every delivery in it, so their retries are duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from asyncsdk.webhooks import RedisStreamSink, StreamUnavailableError, decode_entry, parse_event
from asyncsdk.webhooks._append import APPEND, append_merge, split_answers
from asyncsdk.webhooks._eviction import evicting_policy, warn_if_evicting
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
        await _limit(r, over_by=64 * 1024)  # a margin for buffers freed meanwhile
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


def _delivery(stream: str, name: str, pad: int = 0) -> tuple[list[str], list[bytes]]:
    """One delivery's keys and arguments for `APPEND`, its event JSON ``pad`` bytes longer."""
    event = parse_event(event_body(uuid.uuid4()), request_id=name)
    keys = [dedupe_key(stream, "rid", name), dedupe_key(stream, "sig", f"sig-{name}")]
    return keys, [event.to_json() + b" " * pad, b""]  # JSON allows the spaces


async def test_a_batch_that_crosses_maxmemory_stores_and_remembers_every_delivery(
    redis_server: RedisServer,
) -> None:
    """At every limit, a batch is stored and remembered whole, or refused and absent.

    Redis decides at a script's start whether it is out of memory, and then refuses
    only its first write. What a call holds at its start (its arguments, the query
    buffer Redis keeps after a large argument, which it frees on a timer) depends on
    the version, the allocator and timing, so the limit is not computed: it steps from
    the memory in use to 4 deliveries' sizes above it, in quarters of one, and each
    step holds the rule. Some step refuses the batch before it writes; some step lets
    it start under the limit and end over it (its first append, 400 KB, crosses it):
    every later write of that batch went through.
    """
    size = 400_000
    outcomes: set[str] = set()
    async with aioredis.Redis.from_url(redis_server.url) as r:
        await r.script_load(APPEND)
        script = r.register_script(APPEND)
        for step in range(17):
            stream = f"test:oom:{step}:{uuid.uuid4().hex[:8]}"
            merge = append_merge(stream, ttl_ms=60_000, maxlen=0, version=ENTRY_VERSION)
            calls = [
                _delivery(stream, "big", size),
                *(_delivery(stream, f"a{n}") for n in range(3)),
            ]
            keys, args = merge.pack(calls)
            await _limit(r, over_by=-(size * step // 4) or -1)
            limit = int((await r.config_get("maxmemory"))["maxmemory"])
            try:
                answers = split_answers(await script(keys=keys, args=args), len(calls))
            except redis.exceptions.OutOfMemoryError:
                answers = None
            used = int((await r.info("memory"))["used_memory"])
            await _limit(r, over_by=0)
            if answers is None:  # refused before its first write: nothing of it stored
                outcomes.add("refused")
                assert (
                    await r.exists(stream, *(k for call_keys, _ in calls for k in call_keys)) == 0
                )
                continue
            assert [outcome for outcome, _ in answers] == [1, 1, 1, 1]
            for call_keys, _ in calls:  # every delivery remembered, by each of its keys
                assert await r.exists(*call_keys) == len(call_keys)
            assert await r.xlen(stream) == len(calls)
            again = split_answers(await script(keys=keys, args=args), len(calls))
            assert [outcome for outcome, _ in again] == [0, 0, 0, 0]  # retries: duplicates
            assert [detail for _, detail in again] == [detail for _, detail in answers]
            # The big argument, alive until the script ended, is freed now; the writes
            # after the first append took a few KB: the later writes ran over the limit.
            if used + size - 64 * 1024 > limit:
                outcomes.add("crossed")
            await r.delete(stream, *(k for call_keys, _ in calls for k in call_keys))
    assert outcomes == {"refused", "crossed"}


@pytest.mark.parametrize("policy", ["noeviction", "allkeys-lru", "volatile-ttl"])
async def test_a_redis_that_may_evict_is_named_in_a_warning_once(
    redis_server: RedisServer, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Evicting could drop the stream (events acknowledged, lost) or the dedupe keys."""
    async with aioredis.Redis.from_url(redis_server.url) as r:
        await r.config_set("maxmemory-policy", policy)
        sink = RedisStreamSink(redis_server.url, stream=f"test:policy:{uuid.uuid4().hex[:8]}")
        try:
            with caplog.at_level("WARNING", logger="asyncsdk"):
                for n in range(3):
                    await sink(parse_event(event_body(uuid.uuid4()), request_id=f"p{n}"))
        finally:
            await sink.aclose()
            await r.config_set("maxmemory-policy", "noeviction")
    warnings = [m for m in caplog.messages if "maxmemory-policy" in m]
    if policy == "noeviction":
        assert warnings == []
    else:
        assert len(warnings) == 1 and policy in warnings[0] and "noeviction" in warnings[0]
    assert sink.stats.appended == 3


async def test_a_redis_that_refuses_config_says_nothing_and_stores_on() -> None:
    """Managed Redis services often refuse CONFIG: the check never fails a delivery."""

    class NoConfig:
        async def config_get(self, pattern: str) -> object:
            raise redis.exceptions.ResponseError("unknown command 'CONFIG'")

    assert await warn_if_evicting(NoConfig(), "s") is None
    assert evicting_policy({"maxmemory-policy": "allkeys-lfu"}) == "allkeys-lfu"
    assert evicting_policy({b"maxmemory-policy": b"volatile-lru"}) == "volatile-lru"
    assert evicting_policy({"maxmemory-policy": "noeviction"}) is None
    assert evicting_policy({}) is None
    assert evicting_policy(None) is None
