"""enrich_events: events in, calls fetched from the embedded server over loopback, out."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import msgspec
import pytest

from asyncsdk import Call, Client, InvalidIDError, NotFoundError
from asyncsdk.server import EmbeddedServer, ScriptedResponse
from asyncsdk.webhooks import CallEvent, enrich_events


def event_for(
    server: EmbeddedServer, call_id: uuid.UUID, status: str, **extra: object
) -> CallEvent:
    """An event whose payload is the dataset's call with another status."""
    ds = server.dataset
    payload = msgspec.json.decode(ds.body(call_id) or b"{}")
    payload.update({"id": str(call_id), "channelId": str(ds.channel_id), "status": status})
    payload.update(extra)
    return CallEvent(
        service="channels",
        event="voice.outbound",
        payload=msgspec.convert(payload, Call),
        request_id=str(uuid.uuid4()),
    )


async def collect(client: Client, server: EmbeddedServer, events: object, **kw: object) -> list:
    stream = enrich_events(client, events, workspace_id=server.dataset.workspace_id, **kw)  # type: ignore[arg-type]
    return [pair async for pair in stream]


async def test_terminal_events_are_enriched_and_others_skipped(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    a, b, c = ds.call_ids[:3]
    events = [
        event_for(server, a, "ringing"),
        event_for(server, a, "completed"),
        event_for(server, b, "no-answer"),
        event_for(server, c, "ongoing"),
    ]
    pairs = await collect(client, server, events)
    assert sorted(str(e.payload.id) for e, _ in pairs) == sorted([str(a), str(b)])
    for event, call in pairs:
        assert call == ds.call(event.payload.id)  # the details, from GET
    assert len(server.requests) == 2


async def test_each_call_is_fetched_once_for_many_events(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    # A call whose details (what GET answers) are final, so that they are remembered.
    call_id = next(c for c in ds.call_ids if (ds.call(c) or Call(id=c)).status == "completed")
    server.script(call_id, ScriptedResponse(delay=0.05))
    first = [event_for(server, call_id, "completed") for _ in range(3)]
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
    for event in first:
        queue.put_nowait(event)
    stream = enrich_events(client, queue, workspace_id=ds.workspace_id)
    got = [await anext(stream) for _ in range(3)]
    assert {id(e) for e, _ in got} == {id(e) for e in first}
    assert len(server.requests) == 1  # three events shared one request
    late = event_for(server, call_id, "completed")
    queue.put_nowait(late)  # a retried delivery, much later
    queue.put_nowait(None)
    rest = [pair async for pair in stream]
    assert [e for e, _ in rest] == [late]
    assert len(server.requests) == 1  # a terminal call does not change: no new request
    assert rest[0][1] == got[0][1]


async def test_every_status_when_asked(client: Client, server: EmbeddedServer) -> None:
    ds = server.dataset
    events = [event_for(server, ds.call_ids[0], s) for s in ("ringing", "ongoing")]
    pairs = await collect(client, server, events, statuses=None)
    assert len(pairs) == 2 and len(server.requests) == 2


async def test_errors_are_yielded_with_their_event(client: Client, server: EmbeddedServer) -> None:
    ds = server.dataset
    missing = event_for(server, ds.missing_call_id(), "completed")
    no_channel = event_for(server, ds.call_ids[1], "busy", channelId=None)
    pairs = dict(
        (id(e), outcome) for e, outcome in await collect(client, server, [missing, no_channel])
    )
    assert isinstance(pairs[id(missing)], NotFoundError)
    assert isinstance(pairs[id(no_channel)], InvalidIDError)
    # With the channel given, a payload without one is fetched.
    pairs2 = await collect(client, server, [no_channel], channel_id=ds.channel_id)
    assert isinstance(pairs2[0][1], Call)


async def test_backpressure_holds_at_most_concurrency_events(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
    for call_id in ds.call_ids[:20]:
        queue.put_nowait(event_for(server, call_id, "completed"))
    stream = enrich_events(client, queue, workspace_id=ds.workspace_id, concurrency=4)
    async with stream:
        await anext(stream)
        await asyncio.sleep(0.05)  # the consumer is busy: nothing more is read
        assert queue.qsize() == 20 - 4
    # Closing reports what was taken and not yielded.
    assert len(stream.leftovers) == 3


async def test_cancellation_reports_the_events_not_yielded(server: EmbeddedServer) -> None:
    from ._support import ACCESS_KEY

    ds = server.dataset
    for call_id in ds.call_ids[:3]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
    events = [event_for(server, c, "failed") for c in ds.call_ids[:3]]
    for event in events:
        queue.put_nowait(event)
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        stream = enrich_events(client, queue, workspace_id=ds.workspace_id)
        task = asyncio.create_task(anext(stream))
        while len(server.requests) < 3:  # noqa: ASYNC110 - polling the server's log
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stream.aclose()
    assert sorted(map(id, stream.leftovers)) == sorted(map(id, events))
    await asyncio.wait_for(queue.join(), 30)


async def test_bad_arguments(client: Client, server: EmbeddedServer) -> None:
    from asyncsdk import ConfigurationError

    with pytest.raises(InvalidIDError):
        enrich_events(client, [], workspace_id="nope")
    with pytest.raises(ConfigurationError):
        enrich_events(client, [], workspace_id=server.dataset.workspace_id, concurrency=0)
    with pytest.raises(TypeError):
        await collect(client, server, ["not an event"])


# --- a queue's accounting: every event taken is marked done exactly once ---


def queue_of(events: list[object]) -> asyncio.Queue[object]:
    queue: asyncio.Queue[object] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    queue.put_nowait(None)
    return queue


@pytest.mark.parametrize("how", ["break", "exception in the loop body"])
async def test_leaving_the_loop_marks_the_event_in_hand_done(
    client: Client, server: EmbeddedServer, how: str
) -> None:
    """The event being consumed when the loop is left was delivered: it is marked done."""
    ds = server.dataset
    for call_id in ds.call_ids[1:3]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    events = [event_for(server, c, "completed") for c in ds.call_ids[:3]]
    queue = queue_of(list(events))
    stream = enrich_events(client, queue, workspace_id=ds.workspace_id)  # type: ignore[arg-type]
    consumed: list[CallEvent] = []
    with contextlib.suppress(LookupError):
        async with stream:
            async for event, _ in stream:
                consumed.append(event)
                if how == "break":
                    break
                raise LookupError("the consumer failed")
    await asyncio.wait_for(queue.join(), 30)  # would hang with one event left unmarked
    assert consumed == events[:1]
    assert sorted(map(id, stream.leftovers)) == sorted(map(id, events[1:]))


async def test_an_item_that_is_not_an_event_is_marked_done_too(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    queue: asyncio.Queue[object] = asyncio.Queue()
    queue.put_nowait(event_for(server, ds.call_ids[0], "ringing"))  # skipped: not terminal
    queue.put_nowait("not an event")
    stream = enrich_events(client, queue, workspace_id=ds.workspace_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="CallEvent"):
        async for _ in stream:
            pass
    await asyncio.wait_for(queue.join(), 30)
    assert stream.leftovers == ()
