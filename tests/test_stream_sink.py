"""`RedisStreamSink` against a real ``redis-server``: stored once, 503 when it cannot store."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from asyncsdk import BirdError, ConfigurationError
from asyncsdk.webhooks import (
    RECEIVER,
    InvalidEventError,
    RedisStreamSink,
    StreamFullError,
    StreamUnavailableError,
    WebhookReceiver,
    decode_entry,
    parse_event,
    webhook_app,
)

from ._redis import RedisServer, run_redis
from ._webhooks import SIGNING_KEY, deliver, event_body, signed_headers

PATH = "/bird/voice"

Serve = Callable[..., Awaitable[tuple[str, WebhookReceiver]]]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from run_redis()


@pytest.fixture
def restartable() -> Iterator[RedisServer]:
    """A server of its own, for the tests that stop it."""
    yield from run_redis()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[TestServer] = []

    async def start(sink: object, **options: object) -> tuple[str, WebhookReceiver]:
        app = webhook_app(SIGNING_KEY, sink, path=PATH, **options)  # type: ignore[arg-type]
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return str(server.make_url(PATH)), app[RECEIVER]

    yield start
    for server in servers:
        await server.close()


def _stream() -> str:
    return f"test:events:{uuid.uuid4().hex[:8]}"


async def _entries(url: str, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    async with aioredis.Redis.from_url(url) as r:
        return list(await r.xrange(stream))


async def test_an_accepted_delivery_is_in_the_stream_before_its_200(
    redis_server: RedisServer, serve: Serve, session: aiohttp.ClientSession
) -> None:
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream)
    url, _ = await serve(sink)
    body = event_body(uuid.uuid4())
    status, _, _ = await deliver(session, url, body, request_id="rid-1")
    assert status == 200
    entries = await _entries(redis_server.url, stream)
    assert len(entries) == 1
    event = decode_entry(entries[0][1])
    assert event.request_id == "rid-1"
    assert event.payload == parse_event(body).payload
    assert event.timestamp is not None
    assert sink.stats.appended == 1
    await sink.aclose()


async def test_a_retry_at_another_replica_is_acknowledged_and_not_appended_again(
    redis_server: RedisServer, serve: Serve, session: aiohttp.ClientSession
) -> None:
    stream = _stream()
    one, two = (RedisStreamSink(redis_server.url, stream=stream) for _ in range(2))
    url_one, _ = await serve(one)
    url_two, _ = await serve(two)
    body = event_body(uuid.uuid4())
    assert (await deliver(session, url_one, body, request_id="rid-2"))[0] == 200
    # Bird retries (signed afresh: a new timestamp) at the other replica.
    assert (await deliver(session, url_two, body, request_id="rid-2"))[0] == 200
    assert len(await _entries(redis_server.url, stream)) == 1
    assert (one.stats.appended, two.stats.duplicates) == (1, 1)
    await one.aclose()
    await two.aclose()


async def test_a_replayed_signature_with_a_fresh_id_is_a_duplicate(
    redis_server: RedisServer, session: aiohttp.ClientSession, serve: Serve
) -> None:
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream)
    url, _ = await serve(sink, dedupe=False)  # only Redis remembers
    body = event_body(uuid.uuid4())
    headers = signed_headers(url, body, request_id="first")
    async with session.post(url, data=body, headers=headers) as resp:
        assert resp.status == 200
    headers["messagebird-request-id"] = "fresh"
    async with session.post(url, data=body, headers=headers) as resp:
        assert resp.status == 200
    assert len(await _entries(redis_server.url, stream)) == 1
    assert sink.stats.duplicates == 1
    await sink.aclose()


async def test_the_same_delivery_at_two_replicas_at_once_lands_once(
    redis_server: RedisServer, serve: Serve, session: aiohttp.ClientSession
) -> None:
    stream = _stream()
    sinks = [RedisStreamSink(redis_server.url, stream=stream) for _ in range(2)]
    urls = [(await serve(sink, dedupe=False))[0] for sink in sinks]
    bodies = [event_body(uuid.uuid4()) for _ in range(20)]
    sends = [
        deliver(session, url, body, request_id=f"same-{n}")
        for n, body in enumerate(bodies)
        for url in urls
    ]
    answers = await asyncio.gather(*sends)
    assert {status for status, _, _ in answers} == {200}
    entries = await _entries(redis_server.url, stream)
    ids = sorted(decode_entry(fields).request_id or "" for _, fields in entries)
    assert ids == sorted(f"same-{n}" for n in range(20))
    assert sum(s.stats.appended for s in sinks) == 20
    assert sum(s.stats.duplicates for s in sinks) == 20
    for sink in sinks:
        await sink.aclose()


async def test_many_clients_racing_on_one_delivery_store_it_once(
    redis_server: RedisServer,
) -> None:
    stream = _stream()
    event = parse_event(event_body(uuid.uuid4()), request_id="race")
    sinks = [RedisStreamSink(redis_server.url, stream=stream) for _ in range(8)]
    outcomes = await asyncio.gather(*(s.store_delivery(event, ("race", "sig")) for s in sinks))
    assert sorted(outcomes) == [False] * 7 + [True]
    assert len(await _entries(redis_server.url, stream)) == 1
    for sink in sinks:
        await sink.aclose()


async def test_redis_down_means_503_with_retry_after_then_stored_once_it_is_back(
    restartable: RedisServer, serve: Serve, session: aiohttp.ClientSession
) -> None:
    stream = _stream()
    sink = RedisStreamSink(restartable.url, stream=stream, timeout=1.0)
    url, receiver = await serve(sink, retry_after=7)
    body = event_body(uuid.uuid4())
    restartable.stop()
    status, _, headers = await deliver(session, url, body, request_id="down")
    assert status == 503
    assert headers["Retry-After"] == "7"
    assert sink.stats.unavailable == 1
    assert receiver.stats.busy == 1
    restartable.start()  # persistence off: it starts empty
    status, _, _ = await deliver(session, url, body, request_id="down")
    assert status == 200
    entries = await _entries(restartable.url, stream)
    assert [decode_entry(f).request_id for _, f in entries] == ["down"]
    await sink.aclose()


async def test_store_delivery_raises_a_typed_error_naming_the_stream(
    restartable: RedisServer,
) -> None:
    sink = RedisStreamSink(restartable.url, stream="named", timeout=1.0)
    restartable.stop()
    with pytest.raises(StreamUnavailableError) as caught:
        await sink(parse_event(event_body(), request_id="x"))
    assert isinstance(caught.value, BirdError)
    assert caught.value.stream == "named"
    again = pickle.loads(pickle.dumps(caught.value))
    assert (type(again), again.stream, str(again)) == (
        StreamUnavailableError,
        "named",
        str(caught.value),
    )
    await sink.aclose()


async def test_a_full_stream_refuses_with_503_and_never_trims_unread_entries(
    redis_server: RedisServer, serve: Serve, session: aiohttp.ClientSession
) -> None:
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream, maxlen=2)
    url, _ = await serve(sink)
    answers = [
        (await deliver(session, url, event_body(uuid.uuid4()), request_id=f"f{n}"))[0]
        for n in range(3)
    ]
    assert answers == [200, 200, 503]
    assert sink.stats.full == 1
    entries = await _entries(redis_server.url, stream)
    assert [decode_entry(f).request_id for _, f in entries] == ["f0", "f1"]
    with pytest.raises(StreamFullError, match="maxlen 2"):
        await sink(parse_event(event_body(uuid.uuid4()), request_id="f3"))
    await sink.aclose()


async def test_a_callable_sink_dedupes_by_request_id(redis_server: RedisServer) -> None:
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream)
    event = parse_event(event_body(uuid.uuid4()), request_id="callable")
    await sink(event)
    await sink(event)
    assert len(await _entries(redis_server.url, stream)) == 1
    assert sink.stats.duplicates == 1
    await sink.aclose()


async def test_the_traceparent_is_kept_when_given(redis_server: RedisServer) -> None:
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    event = parse_event(event_body(uuid.uuid4()), request_id="traced")
    await sink.store_delivery(event, ("traced",), traceparent=parent)
    (_, fields), *_ = await _entries(redis_server.url, stream)
    assert fields[b"traceparent"] == parent.encode()
    assert decode_entry(fields) == event
    await sink.aclose()


async def test_an_entry_that_is_not_an_event_is_refused_as_invalid() -> None:
    with pytest.raises(InvalidEventError):
        decode_entry({b"v": b"1", b"event": b"{not json"})
    with pytest.raises(InvalidEventError, match="version 1"):
        decode_entry({b"v": b"2", b"event": event_body()})
    with pytest.raises(InvalidEventError):
        decode_entry({b"v": b"1", b"event": b'{"service":"x","event":"y","payload":{}}'})


async def test_a_given_client_is_not_closed_and_keys_hold_no_secrets(
    redis_server: RedisServer,
) -> None:
    stream = _stream()
    async with aioredis.Redis.from_url(redis_server.url) as r:
        sink = RedisStreamSink(r, stream=stream)
        await sink.store_delivery(parse_event(event_body(), request_id="k"), ("k", "the-signature"))
        await sink.aclose()
        keys = [k.decode() for k in await r.keys(f"{{{stream}}}:*")]
        assert len(keys) == 2
        assert all("the-signature" not in k and ":k" not in k for k in keys)
        assert await r.ttl(keys[0]) > 8 * 3600
    assert "signature" not in repr(sink)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stream": ""}, "stream"),
        ({"stream": "a{b}"}, "braces"),
        ({"maxlen": -1}, "maxlen"),
        ({"maxlen": True}, "maxlen"),
        ({"ttl": 0}, "ttl"),
        ({"timeout": float("nan")}, "timeout"),
    ],
)
def test_bad_settings_say_what_to_pass(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisStreamSink("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]


def test_a_redis_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="URL"):
        RedisStreamSink("127.0.0.1:6379")


async def test_concurrent_appends_go_out_together_and_each_gets_its_own_answer(
    redis_server: RedisServer,
) -> None:
    """Batches of at most ``max_batch``; a failed script fails its own batch only."""
    from asyncsdk.webhooks._batching import Merge, ScriptBatcher

    batches: list[list[str]] = []

    def pack(calls: list[tuple[Sequence[Any], Sequence[Any]]]) -> tuple[list[Any], list[Any]]:
        names = [args[0] for _, args in calls]
        batches.append(names)
        return [], names

    def split(answer: Any, count: int) -> list[Any]:
        assert len(answer) == count
        return list(answer)

    async with aioredis.Redis.from_url(redis_server.url) as r:
        script = r.register_script(
            "for i = 1, #ARGV do if ARGV[i] == 'bad' then return redis.error_reply('refused')"
            " end end return ARGV"
        )
        batcher = ScriptBatcher(script, Merge(pack=pack, split=split), max_batch=4)
        names = [f"n{i}" for i in range(5)] + ["bad"] + [f"n{i}" for i in range(5, 10)]
        calls = [asyncio.ensure_future(batcher([], [name])) for name in names]
        gone = asyncio.ensure_future(batcher([], ["cancelled"]))
        await asyncio.sleep(0)
        gone.cancel()
        answers = await asyncio.gather(*calls, return_exceptions=True)
        await batcher.aclose()
    assert all(1 <= len(batch) <= 4 for batch in batches)
    assert sorted(name for batch in batches for name in batch) == sorted([*names, "cancelled"])
    failed = next(batch for batch in batches if "bad" in batch)
    for name, answer in zip(names, answers, strict=True):
        if name in failed:
            assert isinstance(answer, aioredis.ResponseError)
        else:
            assert answer == name.encode()


async def test_two_hundred_deliveries_at_once_are_each_stored_once(
    redis_server: RedisServer,
) -> None:
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream)
    events = [parse_event(event_body(uuid.uuid4()), request_id=f"b{n}") for n in range(200)]
    stored = await asyncio.gather(*(sink(e) for e in events), *(sink(e) for e in events[:50]))
    assert stored == [None] * 250
    assert (sink.stats.appended, sink.stats.duplicates) == (200, 50)
    assert len(await _entries(redis_server.url, stream)) == 200
    await sink.aclose()


@pytest.mark.parametrize("used", [False, True], ids=["never-used", "used"])
async def test_a_closed_sink_refuses_with_503_and_stores_nothing(
    redis_server: RedisServer, serve: Serve, session: aiohttp.ClientSession, used: bool
) -> None:
    """After aclose a delivery is 503 (Bird retries), never stored through a new connection."""
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream)
    url, receiver = await serve(sink, retry_after=7)
    if used:
        assert (await deliver(session, url, event_body(uuid.uuid4()), request_id="open"))[0] == 200
    await sink.aclose()
    async with asyncio.timeout(30):  # a guard against a hang, not a measure
        status, _, headers = await deliver(
            session, url, event_body(uuid.uuid4()), request_id="after-close"
        )
        with pytest.raises(StreamUnavailableError, match="closed") as caught:
            await sink(parse_event(event_body(), request_id="direct"))
    assert (status, headers["Retry-After"]) == (503, "7")
    assert caught.value.stream == stream
    assert receiver.stats.busy == 1
    stored = [decode_entry(f).request_id for _, f in await _entries(redis_server.url, stream)]
    assert stored == (["open"] if used else [])
    assert sink.stats.unavailable == 2


async def test_a_closed_batcher_sends_nothing_and_starts_no_sender() -> None:
    from asyncsdk.webhooks._batching import Merge, ScriptBatcher

    async def script(**_: object) -> object:
        raise AssertionError("a closed batcher must not send")

    merge = Merge(pack=lambda calls: ([], []), split=lambda answer, count: [])
    batcher = ScriptBatcher(script, merge, name="stream s: appends")
    assert await batcher.aclose(1.0) == 0
    with pytest.raises(ConnectionError, match="stream s: appends: closed"):
        await batcher([], ["x"])
    assert batcher._sender is None and batcher.pending == 0


async def test_one_batch_of_appends_gets_each_delivery_its_own_outcome(
    redis_server: RedisServer,
) -> None:
    """Appends sent together run in turn: a repeat by either key, then a full stream."""
    stream = _stream()
    sink = RedisStreamSink(redis_server.url, stream=stream, maxlen=3)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    a, b, c, d = (
        parse_event(event_body(uuid.uuid4()), request_id=rid) for rid in ("a", "b", "c", "d")
    )
    stored = await asyncio.gather(
        sink.store_delivery(a, ("a", "sig-a")),
        sink.store_delivery(a, ("a-retried", "sig-a")),  # a replay: the signature repeats
        sink.store_delivery(b, ("b", "sig-b"), traceparent=parent),
        sink.store_delivery(b, ("b", "sig-b2")),  # Bird's retry, signed afresh
        sink.store_delivery(c, ()),  # no key: appended, remembered by nothing
        sink.store_delivery(d, ("d", "sig-d")),
        return_exceptions=True,
    )
    assert stored[:5] == [True, False, True, False, True]
    assert isinstance(stored[5], StreamFullError)
    entries = await _entries(redis_server.url, stream)
    assert [decode_entry(f).request_id for _, f in entries] == ["a", "b", "c"]
    assert [f.get(b"traceparent") for _, f in entries] == [None, parent.encode(), None]
    assert (sink.stats.appended, sink.stats.duplicates, sink.stats.full) == (3, 2, 1)
    await sink.aclose()


async def test_a_split_that_answers_the_wrong_count_fails_the_batch_not_hangs() -> None:
    """A `Merge` whose ``split`` breaks its promise: each caller gets an error, none waits."""
    from asyncsdk.webhooks._batching import Merge, ScriptBatcher

    async def script(*, keys: list[object], args: list[object]) -> list[object]:
        return ["one"]

    for answers_made in ([], ["a", "b", "c"]):
        merge = Merge(pack=lambda calls: ([], []), split=lambda _, __, a=answers_made: a)
        batcher = ScriptBatcher(script, merge, name="stream s: appends")
        async with asyncio.timeout(30):  # a guard against a hang, not a measure
            answers = await asyncio.gather(
                batcher([], ["x"]), batcher([], ["y"]), return_exceptions=True
            )
            more = await asyncio.gather(batcher([], ["z"]), return_exceptions=True)
        for answer in [*answers, *more]:
            assert isinstance(answer, ConnectionError), answer
            assert "unexpected answer" in str(answer)


async def test_a_merged_answer_of_the_wrong_shape_fails_the_batch_as_unavailable() -> None:
    """Not one answer per call: none is known stored, so each gets a connection error."""
    from asyncsdk.webhooks._append import append_merge
    from asyncsdk.webhooks._batching import ScriptBatcher

    async def script(*, keys: list[object], args: list[object]) -> list[object]:
        return [1, b"0-1"]  # one outcome for two calls

    merge = append_merge("s", ttl_ms=1000, maxlen=0, version="1")
    batcher = ScriptBatcher(script, merge, name="stream s: appends")
    answers = await asyncio.gather(
        batcher(["k1"], [b"{}", b""]), batcher(["k2"], [b"{}", b""]), return_exceptions=True
    )
    assert all(isinstance(a, ConnectionError) and "unexpected answer" in str(a) for a in answers)
    assert merge.pack([(["k1"], [b"{}", b""]), ((), [b"[]", b"tp"])]) == (
        ["s", "k1"],
        [b"1000", b"0", b"1", b"1", b"{}", b"", b"0", b"[]", b"tp"],
    )
