"""Telemetry of webhooks: the delivery's span, linked from its enrichment, and metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

import asyncsdk
from asyncsdk import Telemetry
from asyncsdk.server import EmbeddedServer
from asyncsdk.webhooks import CallEvent, WebhookReceiver, enrich_events

from ._otel import Recorded, exported_text, recorded
from ._support import ACCESS_KEY
from ._webhooks import SIGNING_KEY, deliver, event_body


async def _enrich_all(
    rec: Recorded, server: EmbeddedServer, events: list[CallEvent]
) -> list[object]:
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    queue.put_nowait(None)
    dataset = server.dataset
    async with asyncsdk.Client(
        access_key=ACCESS_KEY, base_url=server.base_url, telemetry=rec.telemetry
    ) as client:
        stream = enrich_events(
            client, queue, workspace_id=dataset.workspace_id, channel_id=dataset.channel_id
        )
        async with stream:
            return [result async for _event, result in stream]


@contextlib.asynccontextmanager
async def receiving(
    telemetry: Telemetry, queue: asyncio.Queue[CallEvent]
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A receiver with ``telemetry`` on loopback: a session and the URL to deliver to."""
    receiver = WebhookReceiver(SIGNING_KEY, queue, telemetry=telemetry)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with TestServer(app, host="127.0.0.1") as hooks, aiohttp.ClientSession() as session:
        yield session, str(hooks.make_url("/hook"))


def body_for(call_id: object) -> bytes:
    """An event for ``call_id`` whose payload names no channel: the stream's is used."""
    return event_body(str(call_id)).replace(b'"channelId"', b'"otherField"')


async def test_delivery_span_is_linked_from_the_enrichment_span(server: EmbeddedServer) -> None:
    rec = recorded()
    queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=10)
    body = body_for(server.dataset.call_ids[0])
    async with receiving(rec.telemetry, queue) as (session, url):
        assert (await deliver(session, url, body, request_id="d-1"))[0] == 200
        assert (await deliver(session, url, body, request_id="d-1"))[1] == "duplicate"
        assert (await deliver(session, url, body, request_id="d-2", key="wrong"))[0] == 401
        depth = rec.metrics()["asyncsdk.webhook.queue.depth"].data.data_points
        assert [p.value for p in depth] == [1]
    event = queue.get_nowait()
    results = await _enrich_all(rec, server, [event])
    assert isinstance(results[0], asyncsdk.Call)

    receives = [s for s in rec.spans() if s.name == "webhook.receive"]
    outcomes = [(s.attributes or {}).get("asyncsdk.webhook.outcome") for s in receives]
    assert outcomes == ["accepted", "duplicate", "refused"]
    (enrich,) = [s for s in rec.spans() if s.name == "webhook.enrich"]
    (link,) = enrich.links
    assert receives[0].context is not None
    assert link.context.span_id == receives[0].context.span_id
    assert link.context.trace_id == receives[0].context.trace_id
    assert [s.name for s in rec.children(enrich)] == ["get_call"]
    deliveries = rec.metrics()["asyncsdk.webhook.deliveries"].data.data_points
    counted = {
        (p.attributes["asyncsdk.webhook.outcome"], p.attributes.get("asyncsdk.webhook.reason")): (
            p.value
        )
        for p in deliveries
    }
    assert counted == {
        ("accepted", None): 1,
        ("duplicate", None): 1,
        ("refused", "unauthorized"): 1,
    }
    text = "\n".join(exported_text(rec))
    assert SIGNING_KEY not in text
    assert "webhook.receive" in text


async def test_link_travels_as_a_traceparent(server: EmbeddedServer) -> None:
    """A receiver in one process, the enrichment in another: the entry carries the link."""
    receiver, enriching = recorded(), recorded()
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    async with receiving(receiver.telemetry, queue) as (session, url):
        body = body_for(server.dataset.call_ids[1])
        assert (await deliver(session, url, body, request_id="d-9"))[0] == 200
    traceparent = receiver.telemetry.delivery_traceparent("d-9")
    assert traceparent is not None
    assert receiver.telemetry.delivery_traceparent("unknown") is None
    assert not enriching.telemetry.link_delivery("d-x", "not a traceparent")
    assert enriching.telemetry.link_delivery("d-9", traceparent)
    await _enrich_all(enriching, server, [queue.get_nowait()])
    (receive,) = receiver.spans()
    (enrich,) = [s for s in enriching.spans() if s.name == "webhook.enrich"]
    assert receive.context is not None
    assert [link.context.span_id for link in enrich.links] == [receive.context.span_id]
