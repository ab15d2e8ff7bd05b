"""Review of the stream pipeline's trim and dedupe against a real ``redis-server``.

`trim_acknowledged` must never remove an entry some consumer group has not
acknowledged (pending) or not yet been given (unread), however far that group lags;
the sink's script must keep one entry per delivery, whichever of its keys a retry
brings to whichever replica.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from asyncsdk.webhooks import RedisStreamSink, parse_event, trim_acknowledged
from tests._redis import RedisServer, run_redis
from tests._webhooks import event_body

STREAM = "review:events"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from run_redis()


async def test_a_lagging_group_keeps_what_it_has_not_acknowledged(
    redis_server: RedisServer,
) -> None:
    async with aioredis.Redis.from_url(redis_server.url) as r:
        await r.delete(STREAM)
        for group in ("fast", "slow", "idle"):
            await r.xgroup_create(STREAM, group, id="0", mkstream=True)
        ids = [(await r.xadd(STREAM, {"n": str(n)})).decode() for n in range(6)]
        # fast: all read and acknowledged; slow: two read, the first acknowledged.
        await r.xreadgroup("fast", "c", {STREAM: ">"}, count=6)
        await r.xack(STREAM, "fast", *ids)
        await r.xreadgroup("slow", "c", {STREAM: ">"}, count=2)
        await r.xack(STREAM, "slow", ids[0])

        # idle has been given nothing: nothing goes.
        assert await trim_acknowledged(r, STREAM) == 0
        await r.xgroup_destroy(STREAM, "idle")
        # slow still holds ids[1] pending: only ids[0] goes.
        assert await trim_acknowledged(r, STREAM) == 1
        assert [i.decode() for i, _ in await r.xrange(STREAM)] == ids[1:]
        # slow acknowledges it: what slow was never given stays.
        await r.xack(STREAM, "slow", ids[1])
        assert await trim_acknowledged(r, STREAM) == 1
        assert [i.decode() for i, _ in await r.xrange(STREAM)] == ids[2:]


async def test_a_retry_by_either_key_to_another_replica_is_one_entry(
    redis_server: RedisServer,
) -> None:
    stream = "review:dedupe"
    first = RedisStreamSink(redis_server.url, stream=stream)
    second = RedisStreamSink(redis_server.url, stream=stream)
    ev = parse_event(event_body())
    try:
        assert await first.store_delivery(ev, ("rid-1", "sig-1")) is True
        # Bird's retry: the same request id, signed afresh; a replay: the same signature.
        assert await second.store_delivery(ev, ("rid-1", "sig-2")) is False
        assert await second.store_delivery(ev, ("rid-9", "sig-1")) is False
        assert await first.redis.xlen(stream) == 1
    finally:
        await first.aclose()
        await second.aclose()
