"""The aiohttp receiver over real loopback HTTP: every bad input refused, nothing lost."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncsdk.webhooks import (
    RECEIVER,
    CallEvent,
    SeenDeliveries,
    WebhookReceiver,
    parse_event,
    webhook_app,
    webhook_handler,
)

from ._webhooks import BODY, SIGNING_KEY, deliver, event_body, signed_headers

PATH = "/bird/voice"

Serve = Callable[..., Awaitable[tuple[str, WebhookReceiver]]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start ``webhook_app(...)`` on a loopback port; return its URL and receiver."""
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


async def test_a_signed_delivery_is_acknowledged_after_the_hand_off(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    status, text, _ = await deliver(session, url + "?tenant=7", request_id="d-1")
    assert (status, text) == (200, "ok")
    event = queue.get_nowait()
    assert event.request_id == "d-1" and event.status == "completed"
    assert event.timestamp is not None and abs(event.timestamp.timestamp() - time.time()) < 60
    assert receiver.stats.accepted == 1 and receiver.stats.refused == {}


@pytest.mark.parametrize(
    ("case", "expected_reason"),
    [
        ("wrong key", "signature"),
        ("one byte changed", "signature"),
        ("other query", "signature"),
        ("other path", "signature"),
        ("old timestamp", "stale"),
        ("future timestamp", "stale"),
        ("not base64", "signature"),
    ],
)
async def test_forged_or_stale_deliveries_get_401_without_detail(
    serve: Serve,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    case: str,
    expected_reason: str,
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    target = url + "?tenant=7"
    body = BODY
    headers = signed_headers(target, body)
    if case == "wrong key":
        headers = signed_headers(target, body, key="another-key")
    elif case == "one byte changed":
        body = body.replace(b'"duration":187', b'"duration":188')
    elif case == "other query":
        headers = signed_headers(url + "?tenant=8", body)
    elif case == "other path":
        headers = signed_headers(target.replace(PATH, "/other"), body)
    elif case == "old timestamp":
        headers = signed_headers(target, body, timestamp=str(int(time.time()) - 400))
    elif case == "future timestamp":
        headers = signed_headers(target, body, timestamp=str(int(time.time()) + 400))
    elif case == "not base64":
        headers["messagebird-signature"] = "%%% not base64 %%%"
    with caplog.at_level(logging.DEBUG, logger="asyncsdk"):
        async with session.post(target, data=body, headers=headers) as resp:
            assert resp.status == 401
            assert await resp.text() == "unauthorized"
    assert queue.empty()
    assert receiver.stats.refused == {expected_reason: 1}
    expected = signed_headers(target, body)["messagebird-signature"]
    for record in caplog.records:
        message = record.getMessage()
        assert SIGNING_KEY not in message and expected not in message
        assert "another-key" not in message


async def raw_post(url: str, head: dict[bytes, bytes], body: bytes) -> tuple[int, bytes]:
    """POST with header bytes as given (a client library would refuse or re-encode them)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    target = parts.path.encode() + (b"?" + parts.query.encode() if parts.query else b"")
    lines = [b"POST " + target + b" HTTP/1.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in head.items()]
    lines.append(b"Content-Length: %d" % len(body))
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    try:
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def raw_signature(timestamp: bytes, url: bytes, body: bytes, key: str = SIGNING_KEY) -> bytes:
    message = timestamp + b"\n" + url + b"\n" + hashlib.sha256(body).digest()
    return base64.b64encode(hmac.digest(key.encode(), message, "sha256"))


async def test_a_non_utf8_host_verifies_against_the_bytes_bird_signed(serve: Serve) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    host = urlsplit(url).netloc.encode() + b"\xff"
    stamp = str(int(time.time())).encode()
    signed = b"http://" + host + PATH.encode()
    head = {
        b"Host": host,
        b"messagebird-signature": raw_signature(stamp, signed, BODY),
        b"messagebird-request-timestamp": stamp,
        b"messagebird-request-id": b"raw-1",
    }
    assert await raw_post(url, head, BODY) == (200, b"ok")
    assert queue.get_nowait().request_id == "raw-1"
    assert receiver.stats.refused == {}


@pytest.mark.parametrize(
    ("case", "reason"),
    [("signed over the bytes sent", "stale"), ("signed over other bytes", "signature")],
)
async def test_a_non_utf8_timestamp_gets_401_not_500(
    serve: Serve, caplog: pytest.LogCaptureFixture, case: str, reason: str
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    stamp = str(int(time.time())).encode() + b"\xff"
    signed_stamp = stamp if case == "signed over the bytes sent" else stamp[:-1]
    head = {
        b"Host": urlsplit(url).netloc.encode(),
        b"messagebird-signature": raw_signature(signed_stamp, url.encode(), BODY),
        b"messagebird-request-timestamp": stamp,
    }
    with caplog.at_level(logging.WARNING, logger="aiohttp"):
        assert await raw_post(url, head, BODY) == (401, b"unauthorized")
    assert receiver.stats.refused == {reason: 1}
    assert queue.empty()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback


async def test_a_non_utf8_request_id_gets_400_and_is_not_passed_on(serve: Serve) -> None:
    """The id is not signed: refused before a consumer meets text it cannot encode."""
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    stamp = str(int(time.time())).encode()
    head = {
        b"Host": urlsplit(url).netloc.encode(),
        b"messagebird-signature": raw_signature(stamp, url.encode(), BODY),
        b"messagebird-request-timestamp": stamp,
        b"messagebird-request-id": b"id-\xff",
    }
    status, text = await raw_post(url, head, BODY)
    assert status == 400 and b"messagebird-request-id" in text
    assert queue.empty() and receiver.stats.refused == {"bad-header": 1}


@pytest.mark.parametrize("missing", ["messagebird-signature", "messagebird-request-timestamp"])
async def test_a_missing_header_gets_400_naming_it(
    serve: Serve, session: aiohttp.ClientSession, missing: str
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, _ = await serve(queue)
    headers = signed_headers(url, BODY)
    del headers[missing]
    async with session.post(url, data=BODY, headers=headers) as resp:
        assert resp.status == 400
        assert missing in await resp.text()
    assert queue.empty()


async def test_without_a_request_id_the_signature_dedupes(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, _ = await serve(queue)
    headers = signed_headers(url, BODY)
    del headers["messagebird-request-id"]
    for expected in ("ok", "duplicate"):
        async with session.post(url, data=BODY, headers=headers) as resp:
            assert (resp.status, await resp.text()) == (200, expected)
    assert queue.qsize() == 1 and queue.get_nowait().request_id is None


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversized_body_gets_413(
    serve: Serve, session: aiohttp.ClientSession, chunked: bool
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue, max_body=1024)
    body = b'{"service":"channels","event":"voice.inbound","pad":"' + b"x" * 4000 + b'"}'
    headers = signed_headers(url, body)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    data: object = chunks() if chunked else body
    async with session.post(url, data=data, headers=headers) as resp:
        assert resp.status == 413
    assert queue.empty() and receiver.stats.refused == {"too-large": 1}


@pytest.mark.parametrize(
    "body", [b"not json at all", b"[1, 2]", b'{"service": "channels", "event": "voice.inbound"}']
)
async def test_a_signed_body_that_is_not_an_event_gets_400(
    serve: Serve, session: aiohttp.ClientSession, body: bytes
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    status, text, _ = await deliver(session, url, body)
    assert status == 400 and "not" in text
    assert queue.empty() and receiver.stats.refused == {"not-an-event": 1}


async def test_a_replayed_delivery_is_acknowledged_but_not_passed_on(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """A repeat must get a 2xx, or Bird retries it for 8 hours; it is not passed on."""
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    results = [await deliver(session, url, request_id="same-id") for _ in range(3)]
    assert [(s, t) for s, t, _ in results] == [(200, "ok"), (200, "duplicate"), (200, "duplicate")]
    assert queue.qsize() == 1
    assert receiver.stats.accepted == 1 and receiver.stats.duplicates == 2


async def test_a_captured_delivery_replayed_with_fresh_ids_is_passed_on_once(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """The id is not signed: the signature, which is, recognizes the replays too."""
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    captured = signed_headers(url, BODY, request_id="genuine")
    answers = []
    for request_id in ("genuine", "fresh-1", "fresh-2"):
        headers = {**captured, "messagebird-request-id": request_id}
        async with session.post(url, data=BODY, headers=headers) as resp:
            answers.append((resp.status, await resp.text()))
    assert answers == [(200, "ok"), (200, "duplicate"), (200, "duplicate")]
    assert queue.qsize() == 1 and queue.get_nowait().request_id == "genuine"
    assert receiver.stats.accepted == 1 and receiver.stats.duplicates == 2
    # Bird's own retry keeps the id and signs a fresh timestamp: a duplicate too.
    assert (await deliver(session, url, request_id="genuine"))[:2] == (200, "duplicate")


async def test_a_delivery_refused_with_503_is_remembered_by_neither_id_nor_signature(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=1)
    url, _ = await serve(queue)
    queue.put_nowait(parse_event(BODY))  # the consumer is behind: the queue is full
    headers = signed_headers(url, BODY, request_id="late")
    async with session.post(url, data=BODY, headers=headers) as resp:
        assert resp.status == 503
    queue.get_nowait()
    async with session.post(url, data=BODY, headers=headers) as resp:  # the same bytes again
        assert (resp.status, await resp.text()) == (200, "ok")
    assert queue.get_nowait().request_id == "late"


async def test_a_full_queue_gets_503_and_the_retry_is_accepted(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=1)
    url, receiver = await serve(queue, retry_after=7)
    other = event_body(uuid.uuid4())  # another event: another body
    assert (await deliver(session, url, request_id="a"))[0] == 200
    status, _, headers = await deliver(session, url, other, request_id="b")
    assert status == 503 and headers["Retry-After"] == "7"
    assert receiver.stats.busy == 1
    queue.get_nowait()  # the consumer catches up
    status, text, _ = await deliver(session, url, other, request_id="b")  # Bird retries
    assert (status, text) == (200, "ok")  # not remembered as seen: processed now
    assert queue.get_nowait().request_id == "b"


async def test_a_failing_callable_sink_gets_503_and_the_retry_is_accepted(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    taken: list[CallEvent] = []
    fail = True

    async def sink(event: CallEvent) -> None:
        if fail:
            raise OSError("disk full")
        taken.append(event)

    url, _ = await serve(sink)
    assert (await deliver(session, url, request_id="x"))[0] == 503
    fail = False
    assert (await deliver(session, url, request_id="x"))[:2] == (200, "ok")
    assert [e.request_id for e in taken] == ["x"]


@pytest.mark.parametrize("deaf_to_cancellation", [False, True])
async def test_a_sink_that_blocks_gets_503_after_the_hand_off_timeout(
    serve: Serve, session: aiohttp.ClientSession, deaf_to_cancellation: bool
) -> None:
    """Neither the request nor its concurrent repeats wait for a sink that never returns."""
    stuck = True
    taken: list[CallEvent] = []
    never = asyncio.Event()

    async def sink(event: CallEvent) -> None:
        while stuck:
            try:
                await never.wait()
            except asyncio.CancelledError:
                if not deaf_to_cancellation:
                    raise
        taken.append(event)

    url, receiver = await serve(sink, hand_off_timeout=0.05, retry_after=9)
    sends = [deliver(session, url, request_id="slow") for _ in range(3)]
    answers = await asyncio.wait_for(asyncio.gather(*sends), 30)
    assert [(status, headers["Retry-After"]) for status, _, headers in answers] == [(503, "9")] * 3
    assert receiver.stats.busy == 3 and receiver.stats.accepted == 0
    stuck = False
    never.set()  # the sink is healthy again; Bird retries
    # A healthy sink has as long as a loaded machine needs: 50 ms is not always enough.
    receiver._handoff.timeout = 30.0
    assert (await deliver(session, url, request_id="slow"))[:2] == (200, "ok")
    if deaf_to_cancellation:  # the sink it gave up on kept the event too, as documented
        assert taken and {e.request_id for e in taken} == {"slow"}
    else:
        assert [e.request_id for e in taken] == ["slow"]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "5"])
def test_the_hand_off_timeout_must_be_positive_seconds(bad: object) -> None:
    from asyncsdk import ConfigurationError

    with pytest.raises(ConfigurationError, match="hand_off_timeout"):
        webhook_handler(SIGNING_KEY, asyncio.Queue(), hand_off_timeout=bad)  # type: ignore[arg-type]


async def test_concurrent_repeats_of_one_delivery_are_passed_on_once(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    release = asyncio.Event()
    taken: list[CallEvent] = []

    async def slow_sink(event: CallEvent) -> None:
        await release.wait()
        taken.append(event)

    # However slowly a loaded machine lands the four, the first hand-off outlasts them.
    url, receiver = await serve(slow_sink, hand_off_timeout=600)
    sends = [asyncio.create_task(deliver(session, url, request_id="r")) for _ in range(4)]
    for _ in range(12_000):  # waiting for the requests to land (a minute at most)
        if receiver.stats.received == 4:
            break
        await asyncio.sleep(0.005)
    release.set()
    answers = sorted(text for _, text, _ in await asyncio.gather(*sends))
    assert answers == ["duplicate", "duplicate", "duplicate", "ok"]
    assert len(taken) == 1


async def test_behind_a_proxy_the_public_url_is_verified(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    public = "https://hooks.example.com/bird/voice?tenant=7"
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, _ = await serve(queue)
    local = url + "?tenant=7"
    assert (await deliver(session, local, signed_url=public))[0] == 401

    url, _ = await serve(queue, public_url="https://hooks.example.com")
    assert (await deliver(session, url + "?tenant=7", signed_url=public))[0] == 200
    assert (await deliver(session, url + "?tenant=8", signed_url=public))[0] == 401


async def test_forwarded_headers_are_trusted_only_when_asked(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    public = "https://hooks.example.com/bird/voice"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    for trust, expected in ((False, 401), (True, 200)):
        url, _ = await serve(queue, trust_forwarded=trust)
        headers = {**signed_headers(public, BODY), **forwarded}
        async with session.post(url, data=BODY, headers=headers) as resp:
            assert resp.status == expected


async def test_key_rotation(serve: Serve, session: aiohttp.ClientSession) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    app = webhook_app(["new-key", SIGNING_KEY], queue, path=PATH)
    server = TestServer(app)
    await server.start_server()
    try:
        url = str(server.make_url(PATH))
        assert (await deliver(session, url, key=SIGNING_KEY))[0] == 200
        assert (await deliver(session, url, key="new-key"))[0] == 200
        assert (await deliver(session, url, key="retired-key"))[0] == 401
    finally:
        await server.close()


async def test_only_post_is_allowed(serve: Serve, session: aiohttp.ClientSession) -> None:
    url, _ = await serve(asyncio.Queue())
    async with session.get(url) as resp:
        assert resp.status == 405


async def test_the_handler_mounts_in_any_app_and_hides_the_key() -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    handler = webhook_handler(SIGNING_KEY, queue)
    assert SIGNING_KEY not in repr(handler.__self__)  # type: ignore[attr-defined]
    app = web.Application()
    app.router.add_post("/hooks/{tenant}", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = str(server.make_url("/hooks/acme"))
            assert (await deliver(session, url, event_body(uuid.uuid4())))[0] == 200
    finally:
        await server.close()
    assert queue.qsize() == 1


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("tolerance", 0),
        ("tolerance", -5.0),
        ("tolerance", float("nan")),
        ("tolerance", float("inf")),
        ("tolerance", True),
        ("tolerance", "300"),
        ("retry_after", -1),
        ("retry_after", 2.5),
        ("retry_after", True),
        ("retry_after", "5"),
    ],
)
def test_tolerance_and_retry_after_are_validated(option: str, bad: object) -> None:
    from asyncsdk import ConfigurationError

    with pytest.raises(ConfigurationError, match=option):
        webhook_handler(SIGNING_KEY, asyncio.Queue(), **{option: bad})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=option):
        webhook_app(SIGNING_KEY, asyncio.Queue(), **{option: bad})  # type: ignore[arg-type]


def test_tolerance_none_and_retry_after_zero_are_allowed() -> None:
    webhook_handler(SIGNING_KEY, asyncio.Queue(), tolerance=None, retry_after=0)


async def test_a_flood_of_forged_deliveries_logs_one_warning(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    url, receiver = await serve(queue)
    with caplog.at_level(logging.WARNING, logger="asyncsdk"):
        for _ in range(30):
            assert (await deliver(session, url, key="forged"))[0] == 401
    assert receiver.stats.refused == {"signature": 30}  # every one counted
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "refused" in warnings[0].getMessage()


async def test_a_flood_of_503s_from_a_refusing_sink_logs_one_warning(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async def full(event: CallEvent) -> None:
        raise LookupError("the pipeline is full")

    url, receiver = await serve(full)
    with caplog.at_level(logging.WARNING, logger="asyncsdk"):
        for _ in range(30):
            assert (await deliver(session, url, event_body(uuid.uuid4())))[0] == 503
    assert receiver.stats.busy == 30
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "the pipeline is full" in warnings[0].getMessage()


def test_a_repeated_warning_is_summarized_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from asyncsdk.webhooks._receiver import _WarningThrottle

    now = 0.0
    throttle = _WarningThrottle(interval=60.0, clock=lambda: now)
    with caplog.at_level(logging.WARNING, logger="asyncsdk"):
        for second in range(0, 150):
            now = float(second)
            throttle.warning("signature", "webhook from %s refused", "10.0.0.1")
        throttle.warning("stale", "another reason is logged at once")
    assert [r.getMessage() for r in caplog.records] == [
        "webhook from 10.0.0.1 refused",
        "webhook from 10.0.0.1 refused (and 59 more like it in the last 60s)",
        "webhook from 10.0.0.1 refused (and 59 more like it in the last 60s)",
        "another reason is logged at once",
    ]


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="public_url"):
        webhook_handler(SIGNING_KEY, asyncio.Queue(), public_url="hooks.example.com")
    with pytest.raises(ValueError, match="max_body"):
        webhook_handler(SIGNING_KEY, asyncio.Queue(), max_body=0)
    with pytest.raises(TypeError, match="sink"):
        webhook_handler(SIGNING_KEY, [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="signing key"):
        webhook_handler("", asyncio.Queue())


# --- SeenDeliveries, on a fake clock ---


def test_seen_deliveries_expire_after_the_ttl() -> None:
    now = 0.0
    seen = SeenDeliveries(ttl=10, clock=lambda: now)
    seen.add("a")
    now = 9.9
    assert "a" in seen
    now = 10.0
    assert "a" not in seen
    seen.add("b")  # evicts what expired
    assert len(seen) == 1


def test_seen_deliveries_are_bounded() -> None:
    seen = SeenDeliveries(max_entries=3, clock=lambda: 0.0)
    for key in "abcde":
        seen.add(key)
    assert len(seen) == 3
    assert "a" not in seen and "b" not in seen and "e" in seen


def test_seen_deliveries_validate() -> None:
    with pytest.raises(ValueError, match="ttl"):
        SeenDeliveries(ttl=0)
    with pytest.raises(ValueError, match="max_entries"):
        SeenDeliveries(max_entries=0)


# --- any failure to hand off is a refusal: 503, nothing remembered, the retry taken ---


class _SinkError(Exception):
    pass


def _raises_when_called(event: CallEvent) -> Awaitable[None]:
    raise _SinkError("refused before returning a coroutine")


def _not_async(event: CallEvent) -> None:
    return None


async def _wrong_arity() -> None:
    return None


async def _raises_when_awaited(event: CallEvent) -> None:
    raise _SinkError("refused in the coroutine")


async def _never_returns(event: CallEvent) -> None:
    await asyncio.Event().wait()


class _Switchable:
    """A sink that fails the way it was given until it is fixed, then keeps events."""

    def __init__(self, broken: Callable[..., object]) -> None:
        self.broken: Callable[..., object] | None = broken
        self.taken: list[CallEvent] = []

    def __call__(self, event: CallEvent) -> object:
        if self.broken is not None:
            return self.broken(event)
        return self._keep(event)

    async def _keep(self, event: CallEvent) -> None:
        self.taken.append(event)


@pytest.mark.parametrize(
    "broken",
    [_raises_when_called, _not_async, _raises_when_awaited, _never_returns],
    ids=["raises-when-called", "not-async", "raises-when-awaited", "timeout"],
)
async def test_every_kind_of_failed_hand_off_is_a_503_and_the_retry_is_taken(
    serve: Serve, session: aiohttp.ClientSession, broken: Callable[..., object]
) -> None:
    sink = _Switchable(broken)
    url, receiver = await serve(sink, hand_off_timeout=0.2, retry_after=7)
    first = await asyncio.wait_for(deliver(session, url, request_id="again"), 10)
    assert (first[0], first[2].get("Retry-After")) == (503, "7")
    assert receiver._pending == {}  # nothing waits on the refused hand-off
    assert receiver.seen is not None and len(receiver.seen) == 0  # nothing remembered
    # Bird retries while the sink is still broken: refused again, not left waiting.
    second = await asyncio.wait_for(deliver(session, url, request_id="again"), 10)
    assert second[0] == 503
    sink.broken = None  # the sink works again; Bird retries the same delivery
    receiver._handoff.timeout = 30.0  # as long as a loaded machine needs: not 0.2 s
    third = await asyncio.wait_for(deliver(session, url, request_id="again"), 60)
    assert third[:2] == (200, "ok")
    assert [e.request_id for e in sink.taken] == ["again"]
    assert receiver._pending == {}
    assert "again" in receiver.seen
    assert (receiver.stats.busy, receiver.stats.accepted) == (2, 1)


async def test_a_sink_with_the_wrong_arity_is_a_503_and_the_retry_is_taken(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    taken: list[CallEvent] = []
    sinks: list[Callable[..., Awaitable[None]]] = [_wrong_arity]

    async def keep(event: CallEvent) -> None:
        taken.append(event)

    url, receiver = await serve(lambda *args: sinks[0](*args))
    first = await asyncio.wait_for(deliver(session, url, request_id="arity"), 10)
    assert first[0] == 503 and "Retry-After" in first[2]
    assert receiver._pending == {}
    sinks[0] = keep
    assert (await asyncio.wait_for(deliver(session, url, request_id="arity"), 10))[:2] == (
        200,
        "ok",
    )
    assert [e.request_id for e in taken] == ["arity"] and receiver._pending == {}


async def test_a_queue_that_refuses_otherwise_than_full_is_a_503_too(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    class Closed(asyncio.Queue[CallEvent]):
        refusing = True

        def put_nowait(self, item: CallEvent) -> None:
            if self.refusing:
                raise RuntimeError("the queue is shut down")
            super().put_nowait(item)

    queue = Closed()
    url, receiver = await serve(queue)
    assert (await deliver(session, url, request_id="q"))[0] == 503
    queue.refusing = False
    assert (await deliver(session, url, request_id="q"))[:2] == (200, "ok")
    assert queue.get_nowait().request_id == "q" and receiver._pending == {}


async def test_a_sink_that_ignores_its_cancellation_is_not_called_without_bound(
    serve: Serve, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each delivery it was given up on keeps running; past a bound, 503 without a call."""
    from asyncsdk.webhooks import _handoff

    monkeypatch.setattr(_handoff, "MAX_ABANDONED", 2)
    released = asyncio.Event()
    calls: list[str | None] = []

    async def stubborn(event: CallEvent) -> None:
        calls.append(event.request_id)
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await released.wait()

    url, receiver = await serve(stubborn, hand_off_timeout=0.05)
    for n in range(4):
        body = event_body(uuid.uuid4(), status="ringing")
        status, _, headers = await deliver(session, url, body, request_id=f"stuck-{n}")
        assert (status, "Retry-After" in headers) == (503, True)
    assert calls == ["stuck-0", "stuck-1"]  # then refused without calling it
    assert len(receiver._handoff._abandoned) == 2
    released.set()
    for _ in range(1000):  # the stubborn hand-offs end once released
        if not receiver._handoff._abandoned:
            break
        await asyncio.sleep(0.01)
    assert not receiver._handoff._abandoned
    receiver._handoff.timeout = 30.0  # as long as a loaded machine needs: not 50 ms
    body = event_body(uuid.uuid4(), status="ringing")
    assert (await deliver(session, url, body, request_id="after"))[0] == 200
    assert calls[-1] == "after"
