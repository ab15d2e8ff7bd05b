"""enrich_events: events in, calls fetched from the embedded server over loopback, out."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import msgspec
import pytest

from asyncsdk import Call, Client, InvalidIDError, NotFoundError
from asyncsdk.server import EmbeddedServer, ScriptedResponse
from asyncsdk.webhooks import CallEvent, EventStream, enrich_events


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
    assert pairs[id(no_channel)] == ds.call(ds.call_ids[1])  # found in the calls log


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
        for _ in range(12_000):  # polling the server's log (a minute at most)
            if len(server.requests) >= 3:
                break
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


# --- events without a channelId: found through the calls log by their id ---


def final_events(ds: object, call_ids: list[uuid.UUID]) -> list[CallEvent]:
    """The final delivery of each call, exactly as the embedded server sends it."""
    from asyncsdk.server._lifecycle import lifecycle, stage_body
    from asyncsdk.webhooks import parse_event

    events = []
    for call_id in call_ids:
        body = ds.body(call_id)  # type: ignore[attr-defined]
        call = msgspec.json.decode(body, type=Call)
        name, _ = lifecycle(call.status, call.direction)
        delivery = stage_body(name, body, call.status, last=True)
        events.append(parse_event(delivery, request_id=str(uuid.uuid4())))
    return events


async def test_events_without_a_channel_are_found_in_the_calls_log(
    client: Client, server: EmbeddedServer
) -> None:
    from asyncsdk.webhooks import TERMINAL_STATUSES

    ds = server.dataset
    finished = [c for c in ds.call_ids if (ds.call(c) or Call(id=c)).status in TERMINAL_STATUSES]
    events = final_events(ds, finished[:300])
    without = [e for e in events if e.payload.channel_id is None]
    assert len(without) >= 10  # about 13 % of the server's payloads
    pairs = await collect(client, server, events, concurrency=16)
    assert len(pairs) == len(events)
    for event, outcome in pairs:
        assert outcome == ds.call(event.payload.id), outcome
    looked_up = [r for r in server.requests if r.path.endswith("/channels/calls")]
    assert len(looked_up) == len(without)  # one lookup per call without a channel


async def test_a_call_the_log_does_not_have_says_to_pass_the_channel(
    client: Client, server: EmbeddedServer
) -> None:
    from asyncsdk.webhooks import ChannelUnknownError

    ds = server.dataset
    missing = event_for(server, ds.missing_call_id(), "completed", channelId=None)
    [(event, outcome)] = await collect(client, server, [missing])
    assert isinstance(outcome, ChannelUnknownError) and isinstance(outcome, InvalidIDError)
    assert outcome.call_id == event.call_id and outcome.name == "channel_id"
    assert "--channel" in str(outcome) and "channel_id=" in str(outcome)


async def test_the_channel_given_is_used_before_the_log(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    no_channel = event_for(server, ds.call_ids[1], "busy", channelId=None)
    [(_, outcome)] = await collect(client, server, [no_channel], channel_id=ds.channel_id)
    assert isinstance(outcome, Call)
    assert [r.path.endswith("/channels/calls") for r in server.requests] == [False]


# The reference does not say how the log answers an ``id`` filter beyond "one call": an
# empty page before the one holding it, or (a server that ignores the filter) other calls.


async def test_the_lookup_reads_past_an_empty_page(mock_api: object, mock_client: Client) -> None:
    from ._support import MOCK_BASE, WORKSPACE

    call_id = uuid.uuid4()
    log = f"{MOCK_BASE}/workspaces/{WORKSPACE}/channels/calls?id={call_id}"
    mock_api.get(log, body=b'{"results":[],"nextPageToken":"t2"}')  # type: ignore[attr-defined]
    found = {"id": str(call_id), "status": "completed", "channelId": str(uuid.uuid4())}
    mock_api.get(  # type: ignore[attr-defined]
        f"{log}&pageToken=t2", body=msgspec.json.encode({"results": [found]})
    )
    event = CallEvent(
        service="channels",
        event="voice.inbound",
        payload=Call(id=call_id, status="completed"),
    )
    [(_, outcome)] = [p async for p in enrich_events(mock_client, [event], workspace_id=WORKSPACE)]
    assert isinstance(outcome, Call) and outcome.id == call_id


async def test_a_log_that_ignores_the_filter_is_not_read_to_its_end(
    mock_api: object, mock_client: Client
) -> None:
    from asyncsdk.webhooks import ChannelUnknownError

    from ._support import MOCK_BASE, WORKSPACE

    call_id = uuid.uuid4()
    log = f"{MOCK_BASE}/workspaces/{WORKSPACE}/channels/calls?id={call_id}"
    for n in range(8):  # other calls, page after page
        others = [{"id": str(uuid.uuid4())} for _ in range(3)]
        body = msgspec.json.encode({"results": others, "nextPageToken": f"p{n + 1}"})
        url = log if n == 0 else f"{log}&pageToken=p{n}"
        mock_api.get(url, body=body)  # type: ignore[attr-defined]
    event = CallEvent(
        service="channels", event="voice.inbound", payload=Call(id=call_id, status="busy")
    )
    [(_, outcome)] = [p async for p in enrich_events(mock_client, [event], workspace_id=WORKSPACE)]
    assert isinstance(outcome, ChannelUnknownError)
    requests = sum(len(v) for v in mock_api.requests.values())  # type: ignore[attr-defined]
    assert requests <= 4  # a few pages, then the error; never the whole log


# --- a run that every later fetch would fail the same way stops ---


async def test_an_unreachable_api_stops_the_stream_leaving_the_rest_unread(
    server: EmbeddedServer,
) -> None:
    from asyncsdk import RetryPolicy, RunStoppedError

    from ._support import ACCESS_KEY

    ds = server.dataset
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
    events = [event_for(server, c, "completed") for c in ds.call_ids[:50]]
    for event in events:
        queue.put_nowait(event)
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    async with Client(  # nothing listens on the discard port
        access_key=ACCESS_KEY, base_url="http://127.0.0.1:9", retry_policy=policy
    ) as client:
        stream = enrich_events(client, queue, workspace_id=ds.workspace_id, concurrency=4)
        with pytest.raises(RunStoppedError) as caught:
            await consume(stream)
    assert "nothing answers at 127.0.0.1:9 (" in caught.value.reason
    assert "\n" not in caught.value.reason
    assert len(stream.leftovers) == 4  # taken, not yielded: the caller hands them on
    assert queue.qsize() == 46  # never read: still where they were
    assert [*stream.leftovers, *(queue.get_nowait() for _ in range(46))] == events


async def consume(stream: EventStream) -> None:
    async with stream:
        async for _ in stream:
            raise AssertionError("nothing can be fetched")


async def test_a_refused_credential_stops_the_stream(server: EmbeddedServer) -> None:
    from asyncsdk import AuthenticationError, RunStoppedError

    ds = server.dataset
    events = [event_for(server, c, "completed") for c in ds.call_ids[:20]]
    async with Client(access_key="wrong-key", base_url=server.base_url) as client:
        stream = enrich_events(client, iter(events), workspace_id=ds.workspace_id, concurrency=2)
        with pytest.raises(RunStoppedError) as caught:
            async for _ in stream:
                pass
    assert isinstance(caught.value.cause, AuthenticationError)
    assert "401" in caught.value.reason
    assert len(server.requests) <= 2  # not one request per event


async def test_after_a_success_the_same_failures_are_yielded_per_event(
    client: Client, server: EmbeddedServer
) -> None:
    from asyncsdk import AuthenticationError

    ds = server.dataset
    first, second = ds.call_ids[:2]
    server.script(second, ScriptedResponse(status=401))
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
    stream = enrich_events(client, queue, workspace_id=ds.workspace_id)
    queue.put_nowait(event_for(server, first, "completed"))
    assert isinstance((await anext(stream))[1], Call)
    queue.put_nowait(event_for(server, second, "completed"))  # the key is revoked meanwhile
    queue.put_nowait(None)
    assert [type(outcome) async for _, outcome in stream] == [AuthenticationError]


async def test_a_not_found_proves_access_as_for_the_bulk_helpers(
    client: Client, server: EmbeddedServer
) -> None:
    """A 404 is an answer about the call, read with the credential: a later 401 is per event."""
    from asyncsdk import AuthenticationError

    ds = server.dataset
    first, second = ds.call_ids[:2]
    server.script(first, ScriptedResponse(status=404))
    server.script(second, ScriptedResponse(status=401))
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
    stream = enrich_events(client, queue, workspace_id=ds.workspace_id)
    queue.put_nowait(event_for(server, first, "completed"))
    assert isinstance((await anext(stream))[1], NotFoundError)
    queue.put_nowait(event_for(server, second, "completed"))
    queue.put_nowait(None)
    assert [type(outcome) async for _, outcome in stream] == [AuthenticationError]
