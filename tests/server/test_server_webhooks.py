"""The embedded server's webhooks: lifecycles in Bird's order, signed, retried like Bird."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncsdk import Call
from asyncsdk.server import Dataset, WebhookConfig, WebhookSender
from asyncsdk.server._lifecycle import lifecycle, stage_body
from asyncsdk.webhooks import CallEvent, parse_event, webhook_app

KEY = "sender-test-key"


@pytest.mark.parametrize(
    ("status", "direction", "event", "statuses"),
    [
        ("completed", "outgoing", "voice.outbound", "accepted starting ringing ongoing completed"),
        ("completed", "incoming", "voice.inbound", "starting ringing ongoing completed"),
        ("no-answer", "outgoing", "voice.outbound", "accepted starting ringing no-answer"),
        ("busy", "incoming", "voice.inbound", "starting ringing busy"),
        ("failed", "outgoing", "voice.outbound", "accepted starting failed"),
        ("ringing", "outgoing", "voice.outbound", "accepted starting ringing"),
        ("ongoing", None, "voice.inbound", "starting ringing ongoing"),
        ("transferred", "incoming", "voice.inbound", "starting ringing ongoing transferred"),
        ("accepted", "incoming", "voice.inbound", "accepted"),
    ],
)
def test_lifecycles_follow_the_documented_order(
    status: str, direction: str | None, event: str, statuses: str
) -> None:
    assert lifecycle(status, direction) == (event, tuple(statuses.split()))


def test_a_call_without_status_is_one_event() -> None:
    assert lifecycle(None, None) == ("voice.inbound", (None,))


def test_stage_bodies_end_with_the_dataset_body() -> None:
    ds = Dataset(size=50, seed=3)
    for call_id in ds.call_ids:
        body = ds.body(call_id)
        assert body is not None
        call = ds.call(call_id)
        assert call is not None
        event, statuses = lifecycle(call.status, call.direction)
        bodies = [
            stage_body(event, body, s, last=i == len(statuses) - 1) for i, s in enumerate(statuses)
        ]
        parsed = [parse_event(b) for b in bodies]
        assert parsed[-1].payload == call  # the final event is what GET returns
        assert [p.status for p in parsed] == list(statuses)
        for earlier in parsed[:-1]:
            assert earlier.payload.ended_at is None and earlier.payload.duration is None


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[CallEvent], dict[str, int]]]:
    """A webhook app that fails the first two attempts of every delivery with 500."""
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    app = webhook_app(KEY, queue)
    attempts: Counter[str] = Counter()

    @web.middleware
    async def flaky(request: web.Request, handler: object) -> web.StreamResponse:
        request_id = request.headers["messagebird-request-id"]
        attempts[request_id] += 1
        if attempts[request_id] <= 2:
            return web.Response(status=500)
        return await handler(request)  # type: ignore[operator, no-any-return]

    app.middlewares.append(flaky)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/")), queue, attempts
    finally:
        await server.close()


async def test_every_event_is_delivered_signed_through_retries(
    receiver: tuple[str, asyncio.Queue[CallEvent], dict[str, int]],
) -> None:
    url, queue, attempts = receiver
    ds = Dataset(size=30, seed=4)
    config = WebhookConfig(
        url=url, signing_key=KEY, calls_per_second=500, step=0.001, first_retry=0.001, seed=1
    )
    async with WebhookSender(config, ds) as sender:
        stats = await asyncio.wait_for(sender.wait_done(), 30)
    assert stats.calls == 30
    assert stats.delivered == stats.events == len(sender.deliveries) == queue.qsize()
    assert stats.gave_up == 0
    assert stats.answers[500] == 2 * stats.events
    assert all(n == 3 for n in attempts.values())
    assert {d.request_id for d in sender.deliveries} == set(attempts)
    finals = [d for d in sender.deliveries if d.final]
    assert len(finals) == 30
    for delivery in finals:
        assert msgspec.json.decode(delivery.body)["payload"] == msgspec.json.decode(
            ds.body(delivery.call_id) or b""
        )


async def test_deliveries_are_given_up_after_retry_for() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/", refuse)
    server = TestServer(app)
    await server.start_server()
    try:
        config = WebhookConfig(
            url=str(server.make_url("/")),
            signing_key=KEY,
            calls=2,
            step=0.001,
            first_retry=0.001,
            retry_factor=2,
            retry_for=0.5,  # room for retries even when the first attempt is slow
        )
        async with WebhookSender(config, Dataset(size=10)) as sender:
            stats = await asyncio.wait_for(sender.wait_done(), 30)
    finally:
        await server.close()
    assert stats.gave_up == stats.events > 0 and stats.delivered == 0
    assert all(d.attempts > 1 and d.outcome == "gave-up" for d in sender.deliveries)


async def test_a_delivery_retried_past_a_thousand_attempts_is_still_delivered() -> None:
    """Bird's 8 hours of retries: the delay stops growing at its cap, it never overflows."""
    refusals = 1100  # 2.0 ** 1025 is past a float: the delay used to raise OverflowError
    attempts: Counter[str] = Counter()

    async def refuse_then_accept(request: web.Request) -> web.Response:
        request_id = request.headers["messagebird-request-id"]
        attempts[request_id] += 1
        return web.Response(status=503 if attempts[request_id] <= refusals else 200)

    app = web.Application()
    app.router.add_post("/", refuse_then_accept)
    server = TestServer(app)
    await server.start_server()
    try:
        config = WebhookConfig(
            url=str(server.make_url("/")),
            signing_key=KEY,
            calls=1,
            step=0.001,
            first_retry=0.000_001,
            max_retry_delay=0.000_001,
            retry_for=8 * 3600,
        )
        async with WebhookSender(config, Dataset(size=10)) as sender:
            stats = await asyncio.wait_for(sender.wait_done(), 120)
    finally:
        await server.close()
    assert stats.delivered == stats.events > 0 and stats.gave_up == 0
    assert all(d.outcome == "delivered" and d.attempts == refusals + 1 for d in sender.deliveries)


async def test_a_delivery_whose_retry_cannot_be_scheduled_is_recorded_as_given_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever goes wrong while retrying, a delivery ends delivered or given up."""
    import asyncsdk.server._webhooks as sender_module

    def broken(config: WebhookConfig, attempts: int) -> float:
        raise RuntimeError("a bug in the retry schedule")

    monkeypatch.setattr(sender_module, "retry_delay", broken)

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/", refuse)
    server = TestServer(app)
    await server.start_server()
    try:
        config = WebhookConfig(url=str(server.make_url("/")), signing_key=KEY, calls=1)
        async with WebhookSender(config, Dataset(size=10)) as sender:
            stats = await asyncio.wait_for(sender.wait_done(), 30)
    finally:
        await server.close()
    assert stats.gave_up == stats.events == len(sender.deliveries) > 0
    assert all(d.outcome == "gave-up" and d.attempts == 1 for d in sender.deliveries)
    assert "a bug in the retry schedule" in caplog.text


def test_the_retry_delay_grows_to_its_cap_and_stays_there() -> None:
    from asyncsdk.server._webhooks import retry_delay

    config = WebhookConfig(
        url="http://127.0.0.1/",
        signing_key=KEY,
        first_retry=0.5,
        retry_factor=2.0,
        max_retry_delay=3600.0,
    )
    assert [retry_delay(config, n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert retry_delay(config, 5000) == retry_delay(config, 10**9) == 3600.0
    flat = WebhookConfig(url="http://127.0.0.1/", signing_key=KEY, retry_factor=1.0)
    assert retry_delay(flat, 10**6) == flat.first_retry


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="url"):
        WebhookConfig(url="ftp://x", signing_key=KEY)
    with pytest.raises(ValueError, match="signing_key"):
        WebhookConfig(url="http://127.0.0.1/", signing_key="")
    with pytest.raises(ValueError, match="calls_per_second"):
        WebhookConfig(url="http://127.0.0.1/", signing_key=KEY, calls_per_second=0)
    with pytest.raises(ValueError, match="retry_factor"):
        WebhookConfig(url="http://127.0.0.1/", signing_key=KEY, retry_factor=float("inf"))
    assert KEY not in repr(WebhookConfig(url="http://127.0.0.1/", signing_key=KEY))


def test_the_call_in_the_final_payload_decodes_as_a_call() -> None:
    ds = Dataset(size=5)
    call_id = ds.call_ids[0]
    body = ds.body(call_id) or b""
    status = ds.call(call_id).status  # type: ignore[union-attr]
    event, statuses = lifecycle(status, None)
    final = stage_body(event, body, statuses[-1], last=True)
    assert isinstance(parse_event(final).payload, Call)
