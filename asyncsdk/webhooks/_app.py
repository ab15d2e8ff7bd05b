"""`webhook_handler` and `webhook_app`: a `WebhookReceiver` mounted on aiohttp.web.

Imports: aiohttp, the standard library and the webhooks' `_dedupe`, `_handoff`,
`_receiver` and `_signature`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from asyncsdk.webhooks._dedupe import SeenDeliveries
from asyncsdk.webhooks._handoff import DEFAULT_HAND_OFF_TIMEOUT, EventSink
from asyncsdk.webhooks._receiver import DEFAULT_MAX_BODY, DEFAULT_RETRY_AFTER, WebhookReceiver
from asyncsdk.webhooks._signature import DEFAULT_TOLERANCE, SigningKeys

__all__ = ["RECEIVER", "webhook_app", "webhook_handler"]

RECEIVER: Final = web.AppKey("asyncsdk.webhooks", WebhookReceiver)
"""The key under which `webhook_app` stores its `WebhookReceiver`."""


def webhook_handler(
    signing_key: SigningKeys,
    sink: EventSink,
    *,
    public_url: str | None = None,
    trust_forwarded: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    dedupe: SeenDeliveries | bool = True,
    tolerance: float | None = DEFAULT_TOLERANCE,
    retry_after: int = DEFAULT_RETRY_AFTER,
    hand_off_timeout: float = DEFAULT_HAND_OFF_TIMEOUT,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Return an aiohttp request handler that verifies deliveries and hands events on.

    Mount it on the route Bird calls: ``app.router.add_post("/bird/voice", handler)``.
    An event is acknowledged (200) only once the sink has it; when the sink is full the
    answer is 503 with ``Retry-After`` and Bird delivers it again later.

    Args:
        signing_key: The subscription's signing key, or a list during a rotation.
        sink: An `asyncio.Queue` of `CallEvent` (give it a ``maxsize``: a full queue is
            the backpressure), or an async callable that takes the event. Any failure
            to hand off refuses the event (503): a callable that raises when called or
            when awaited, one that returns something not awaitable or takes other
            arguments, and one that has not returned after ``hand_off_timeout``
            seconds (it is then cancelled).
        public_url: The scheme, host and any path prefix a proxy strips, as Bird calls
            them (``"https://hooks.example.com"``); the request's raw path and query are
            appended to form the signed URL. Without it, the request's own scheme and
            ``Host`` are used.
        trust_forwarded: Take the scheme and host from ``X-Forwarded-Proto`` and
            ``X-Forwarded-Host`` (only behind a proxy that sets them itself).
        max_body: Largest body accepted, in bytes; larger ones get 413.
        dedupe: `SeenDeliveries` to share, ``True`` for a new one, ``False`` to pass on
            every delivery, repeats included. A delivery is a repeat when its
            ``messagebird-request-id`` or its signature was accepted before: the id is
            not signed, so the signature stops a captured delivery replayed with fresh
            ids.
        tolerance: Seconds a delivery's timestamp may be from now (replay protection), a
            finite number > 0; ``None`` turns the check off.
        retry_after: Seconds announced in a 503's ``Retry-After``, a whole number >= 0.
        hand_off_timeout: Seconds a callable sink has to take the event (a finite
            number > 0). Past it the sink is cancelled and the answer is 503 with
            ``Retry-After``; the delivery is not remembered, so Bird's retry is handed
            off again. A sink cancelled that late may already have kept the event:
            make it idempotent, or fast. While a thousand hand-offs given up on
            still run (a sink that ignores its cancellation), events are refused
            without calling the sink. A queue sink never waits.

    Returns:
        `WebhookReceiver.handle` of a new receiver (its ``__self__``).

    Raises:
        ValueError: A bad key.
        ConfigurationError: A bad ``public_url``, ``max_body``, ``tolerance``,
            ``retry_after`` or ``hand_off_timeout`` (a `ValueError` too).
        TypeError: ``sink`` is neither a queue nor callable.
    """
    receiver = WebhookReceiver(
        signing_key,
        sink,
        public_url=public_url,
        trust_forwarded=trust_forwarded,
        max_body=max_body,
        dedupe=dedupe,
        tolerance=tolerance,
        retry_after=retry_after,
        hand_off_timeout=hand_off_timeout,
    )
    return receiver.handle


def webhook_app(
    signing_key: SigningKeys,
    sink: EventSink,
    *,
    path: str = "/",
    public_url: str | None = None,
    trust_forwarded: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    dedupe: SeenDeliveries | bool = True,
    tolerance: float | None = DEFAULT_TOLERANCE,
    retry_after: int = DEFAULT_RETRY_AFTER,
    hand_off_timeout: float = DEFAULT_HAND_OFF_TIMEOUT,
) -> web.Application:
    """Return a `aiohttp.web.Application` serving `webhook_handler` at ``path``.

    The receiver is stored in the app under ``"asyncsdk.webhooks"`` (for its stats).
    Every argument but ``path`` is `webhook_handler`'s.
    """
    receiver = WebhookReceiver(
        signing_key,
        sink,
        public_url=public_url,
        trust_forwarded=trust_forwarded,
        max_body=max_body,
        dedupe=dedupe,
        tolerance=tolerance,
        retry_after=retry_after,
        hand_off_timeout=hand_off_timeout,
    )
    app = web.Application(client_max_size=max_body)
    app[RECEIVER] = receiver
    app.router.add_route("*", path, receiver.handle)
    return app
