"""Telemetry across a Redis stream: the delivery's span reaches the worker's enrichment.

A receiver with telemetry hands its deliveries to a `RedisStreamSink` given the same
telemetry: each entry carries the delivery span's ``traceparent``, and an
`enrich_stream` worker (another `Telemetry`, as in another process) links its
``webhook.enrich`` span to it. Real Redis, the embedded server, SQLite.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncsdk import Client
from asyncsdk.server import EmbeddedServer
from asyncsdk.webhooks import RedisStreamSink, SQLiteCallStore, WebhookReceiver, enrich_stream
from asyncsdk.webhooks._stream import link_entry

from ._otel import recorded
from ._redis import RedisServer, run_redis
from ._streams import until
from ._support import ACCESS_KEY
from ._webhooks import SIGNING_KEY, deliver
from .test_otel_webhooks import body_for


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from run_redis()


async def _receive(
    url: str, stream: str, bodies: dict[str, bytes], *, traced: bool
) -> tuple[object, list[object]]:
    """Deliver ``bodies`` (by request id) to a receiver whose sink is the stream."""
    rec = recorded()
    telemetry = rec.telemetry if traced else None
    sink = RedisStreamSink(url, stream=stream, telemetry=telemetry)
    receiver = WebhookReceiver(SIGNING_KEY, sink, telemetry=rec.telemetry)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    try:
        async with TestServer(app, host="127.0.0.1") as hooks, aiohttp.ClientSession() as s:
            for request_id, body in bodies.items():
                status, _, _ = await deliver(
                    s, str(hooks.make_url("/hook")), body, request_id=request_id
                )
                assert status == 200
    finally:
        await sink.aclose()
    return rec, rec.spans()


async def test_entry_carries_the_delivery_traceparent_and_the_worker_links_it(
    redis_server: RedisServer, server: EmbeddedServer, tmp_path: Path
) -> None:
    stream = f"test:otel:{uuid.uuid4().hex[:8]}"
    ds = server.dataset
    bodies = {f"d-{i}": body_for(ds.call_ids[i]) for i in range(3)}
    _, receive_spans = await _receive(redis_server.url, stream, bodies, traced=True)
    receives = {  # the delivery spans, by the request id delivered in order
        rid: span for rid, span in zip(bodies, receive_spans, strict=True)
    }
    async with aioredis.Redis.from_url(redis_server.url) as r:
        entries = await r.xrange(stream)
    assert len(entries) == 3
    for (_, fields), span in zip(entries, receives.values(), strict=True):
        traceparent = fields[b"traceparent"].decode()
        assert traceparent.split("-")[1] == f"{span.context.trace_id:032x}"
        assert traceparent.split("-")[2] == f"{span.context.span_id:016x}"

    enriching = recorded()
    async with (
        Client(
            access_key=ACCESS_KEY, base_url=server.base_url, telemetry=enriching.telemetry
        ) as client,
        SQLiteCallStore(tmp_path / "calls.sqlite") as store,
    ):
        worker = enrich_stream(
            client,
            redis_server.url,
            stream=stream,
            group="g",
            consumer="w1",
            store=store,
            workspace_id=ds.workspace_id,
            channel_id=ds.channel_id,
            statuses=None,
            block=0.1,
            claim_every=0.2,
        )
        running = asyncio.create_task(worker.run())
        await until(lambda: worker.stats.acknowledged == 3, "every entry acknowledged")
        worker.stop()
        await running
    enrich = [s for s in enriching.spans() if s.name == "webhook.enrich"]
    assert len(enrich) == 3
    linked = sorted(link.context.span_id for s in enrich for link in s.links)
    assert linked == sorted(s.context.span_id for s in receives.values())


async def test_a_sink_without_telemetry_writes_no_traceparent(
    redis_server: RedisServer, server: EmbeddedServer
) -> None:
    stream = f"test:otel:{uuid.uuid4().hex[:8]}"
    bodies = {"d-1": body_for(server.dataset.call_ids[0])}
    await _receive(redis_server.url, stream, bodies, traced=False)
    async with aioredis.Redis.from_url(redis_server.url) as r:
        ((_, fields),) = await r.xrange(stream)
    assert b"traceparent" not in fields


def test_link_entry_adopts_only_a_valid_traceparent_with_telemetry() -> None:
    rec = recorded()

    class _Engine:
        telemetry = rec.telemetry._instruments.bind("http://127.0.0.1", "", object, int)

    class _Client:
        _engine = _Engine()

    class _Event:
        request_id = "d-7"

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    link_entry(_Client(), _Event(), {b"traceparent": traceparent.encode()})  # type: ignore[arg-type]
    assert rec.telemetry.delivery_traceparent("d-7") == traceparent
    link_entry(_Client(), _Event(), {b"traceparent": b"garbage"})  # type: ignore[arg-type]
    assert rec.telemetry.delivery_traceparent("d-7") == traceparent  # kept, not replaced
    link_entry(object(), _Event(), {b"traceparent": b"garbage"})  # type: ignore[arg-type]
