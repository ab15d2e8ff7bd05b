"""`RedisStreamSink.aclose` ends in bounded time when Redis stops answering.

A client of the user's own, made without ``socket_timeout``, waits for a reply forever;
a Redis that is paused (``SIGSTOP``: the kernel still accepts its connections, nothing
answers) is what "unreachable" looks like from such a client. The appends on the wire
and those waiting behind them then get `StreamUnavailableError` (their deliveries were
not acknowledged: Bird retries them), and the close logs a warning.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from asyncsdk.webhooks import RedisStreamSink, StreamUnavailableError, parse_event

from ._redis import RedisServer, run_redis
from ._support import wait_until
from ._webhooks import event_body

#: Seconds the sink may wait for Redis (and its close for the appends in flight).
TIMEOUT = 0.3
#: A safety net far above TIMEOUT: only a hang reaches it.
HANG = 30.0


@pytest.fixture
def paused_later() -> Iterator[RedisServer]:
    yield from run_redis()


async def test_aclose_ends_when_a_given_client_waits_on_a_silent_redis(
    paused_later: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    stream = f"test:close:{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(paused_later.url)  # no socket_timeout: waits forever
    try:
        sink = RedisStreamSink(client, stream=stream, timeout=TIMEOUT)
        await sink(parse_event(event_body(), request_id="before"))  # connected, script loaded
        paused_later.pause()
        on_the_wire = asyncio.create_task(sink(parse_event(event_body(), request_id="wire")))
        sender = sink._append
        await wait_until(
            lambda: sender._sender is not None and not sender._sender.done() and not sender._waiting
        )
        behind = asyncio.create_task(sink(parse_event(event_body(), request_id="behind")))
        await wait_until(lambda: len(sender._waiting) == 1)
        with caplog.at_level(logging.WARNING, logger="asyncsdk"):
            await asyncio.wait_for(sink.aclose(), HANG)
        for task in (on_the_wire, behind):
            with pytest.raises(StreamUnavailableError) as caught:
                await asyncio.wait_for(task, HANG)
            assert caught.value.stream == stream
        assert sink.stats.unavailable == 2 and sink.stats.appended == 1
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(stream in m and "2 call(s)" in m and "abandoned" in m for m in warned), warned
    finally:
        paused_later.resume()
        await asyncio.wait_for(client.aclose(), HANG)


async def test_aclose_waits_for_the_appends_of_a_redis_that_answers(
    paused_later: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    stream = f"test:close:{uuid.uuid4().hex[:8]}"
    async with aioredis.Redis.from_url(paused_later.url) as client:
        sink = RedisStreamSink(client, stream=stream, timeout=HANG)
        appends = [
            asyncio.create_task(sink(parse_event(event_body(), request_id=f"r{n}")))
            for n in range(5)
        ]
        await asyncio.sleep(0)  # each call is queued
        with caplog.at_level(logging.WARNING, logger="asyncsdk"):
            await sink.aclose()
        await asyncio.gather(*appends)
        assert sink.stats.appended == 5
        assert await client.xlen(stream) == 5
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
