"""A webhook receiver for aiohttp.web that never acknowledges an event it then loses.

`webhook_handler` returns a `WebhookReceiver`, an aiohttp request handler. Each
delivery goes through, in this order:

1. method: anything but POST gets 405;
2. size: a body over ``max_body`` bytes gets 413, unread past the limit;
3. signature and timestamp (`check_signature`) against the URL Bird called: a missing
   header gets 400 naming it; a bad signature or a stale timestamp gets 401 with no
   detail (the reason is logged, never the key or the expected signature);
4. dedupe: a delivery whose id or signature was already accepted gets 200 and is not
   passed on again (the id names a delivery across Bird's retries, each signed afresh,
   but it is not signed itself: the signature catches a captured delivery replayed with
   fresh ids). An id that is not UTF-8 text gets 400: no consumer could encode it;
5. parse: a body that is not a call event gets 400;
6. hand-off: the event is put on the sink (an `asyncio.Queue`, without waiting, or
   awaited by an async callable for ``hand_off_timeout`` seconds at most). Only then is
   the answer 200 and the delivery (its id and its signature) remembered. Any failure
   to hand off is a refusal: a full queue, a callable that raises (when called or in
   what it returns), one that is not async or takes other arguments, or one too slow
   to return gets 503 with ``Retry-After``; the delivery is *not* remembered and no
   request waits on it, so Bird's retry is processed like a first delivery.

Imports: aiohttp, the standard library, `asyncsdk.errors`, and the webhooks' `_dedupe`,
`_errors`, `_events` and `_signature`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from asyncsdk.errors import ConfigurationError
from asyncsdk.webhooks._dedupe import SeenDeliveries
from asyncsdk.webhooks._errors import (
    InvalidEventError,
    InvalidSignatureError,
    MissingHeaderError,
    StaleTimestampError,
)
from asyncsdk.webhooks._events import CallEvent, parse_event
from asyncsdk.webhooks._signature import (
    DEFAULT_TOLERANCE,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SigningKeys,
    check_signature,
    check_tolerance,
    parse_timestamp,
    signing_keys,
)

__all__ = [
    "DEFAULT_HAND_OFF_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_RETRY_AFTER",
    "RECEIVER",
    "EventSink",
    "ReceiverStats",
    "WebhookReceiver",
    "webhook_app",
    "webhook_handler",
]

logger: Final = logging.getLogger("asyncsdk")

DEFAULT_MAX_BODY: Final = 256 * 1024
"""Largest delivery body accepted, in bytes; a call event is a few KiB."""
DEFAULT_RETRY_AFTER: Final = 5
"""``Retry-After`` of a 503 (the sink was full), in whole seconds."""
DEFAULT_HAND_OFF_TIMEOUT: Final = 5.0
"""Seconds a callable sink may take to take an event before the answer is 503."""
#: Seconds between two warnings of one kind (a flood of refusals is summarized).
_WARNING_INTERVAL: Final = 60.0

#: Where accepted events go: a queue (never awaited: full means 503) or an async callable.
EventSink = (
    asyncio.Queue[CallEvent]
    | asyncio.Queue[CallEvent | None]
    | Callable[[CallEvent], Awaitable[object]]
)


@dataclass(slots=True)
class ReceiverStats:
    """What a `WebhookReceiver` did with the deliveries it got (live counters).

    Attributes:
        received: Requests handled.
        accepted: Events handed to the sink and acknowledged with 200.
        duplicates: Deliveries already accepted, acknowledged again without passing on.
        busy: Deliveries refused with 503 because the sink was full, failed, or did not
            take the event within ``hand_off_timeout``.
        refused: Other refusals by reason (``"signature"``, ``"stale"``,
            ``"missing-header"``, ``"bad-header"``, ``"not-an-event"``, ``"too-large"``,
            ``"method"``).
    """

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    busy: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


class _WarningThrottle:
    """Log the first warning of each kind, then at most one per ``interval`` seconds.

    A flood of forged deliveries, or of 503s while a sink is full, must not flood the
    log: the warnings in between are counted, and the next one logged says how many
    there were (`ReceiverStats` counts every one).
    """

    __slots__ = ("_clock", "_interval", "_kinds")

    def __init__(
        self, interval: float = _WARNING_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (last logged, skipped)

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = self._clock()
        last = self._kinds.get(kind)
        if last is not None and now - last[0] < self._interval:
            self._kinds[kind] = (last[0], last[1] + 1)
            return
        if last is not None and last[1]:
            message += " (and %d more like it in the last %.0fs)"
            args = (*args, last[1], now - last[0])
        logger.warning(message, *args)
        self._kinds[kind] = (now, 0)


def _check_retry_after(retry_after: int) -> str:
    if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
        raise ConfigurationError(
            f"retry_after must be a whole number of seconds >= 0 (an int), got {retry_after!r}"
        )
    return str(retry_after)


def _check_public_url(public_url: str | None) -> str | None:
    if public_url is None:
        return None
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            "public_url must be the scheme, host and optional path prefix Bird calls, "
            f"like 'https://hooks.example.com', got {public_url!r}"
        )
    return public_url.rstrip("/")


def _is_utf8(text: str) -> bool:
    """Whether ``text`` came from valid UTF-8 (aiohttp decodes other bytes to surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_hand_off_timeout(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"hand_off_timeout must be a number of seconds, got {type(value).__name__}"
        )
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(
            f"hand_off_timeout must be a finite number of seconds > 0, got {value!r}"
        )
    return float(value)


async def _take(call: Callable[[CallEvent], Awaitable[object]], event: CallEvent) -> object:
    """Hand ``event`` to a callable sink: call it and await what it returns.

    Raises:
        TypeError: The callable returned something that cannot be awaited (a plain
            function rather than an ``async def``).
        Exception: Whatever the callable raised, when called or when awaited.
    """
    taken = call(event)
    if not inspect.isawaitable(taken):
        raise TypeError(
            f"the webhook sink returned {type(taken).__name__}, not an awaitable: "
            "pass an async callable (or an asyncio.Queue)"
        )
    return await taken


def _text(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text, headers=headers or None)


class WebhookReceiver:
    """Bird's call webhooks for aiohttp.web: `handle` is the request handler.

    Takes the arguments of `webhook_handler`, which returns ``WebhookReceiver(...).handle``;
    build the receiver yourself to keep its `stats` at hand::

        receiver = WebhookReceiver(signing_key, queue)
        app.router.add_post("/bird/voice", receiver.handle)

    Attributes:
        stats: Live counters of what was accepted, deduplicated and refused.
        seen: The accepted deliveries (ids and signatures) it dedupes against, or
            ``None``.
    """

    def __init__(
        self,
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
    ) -> None:
        self._keys = signing_keys(signing_key)
        if isinstance(sink, asyncio.Queue):
            self._queue: asyncio.Queue[CallEvent] | None = sink  # type: ignore[assignment]
            self._call: Callable[[CallEvent], Awaitable[object]] | None = None
        elif callable(sink):
            self._queue, self._call = None, sink
        else:
            raise TypeError(
                f"sink must be an asyncio.Queue or an async callable, got {type(sink).__name__}"
            )
        self._public_url = _check_public_url(public_url)
        self._trust_forwarded = bool(trust_forwarded)
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ConfigurationError(
                f"max_body must be a positive number of bytes, got {max_body!r}"
            )
        self._max_body = max_body
        self.seen: SeenDeliveries | None = (
            dedupe if isinstance(dedupe, SeenDeliveries) else SeenDeliveries() if dedupe else None
        )
        self._tolerance = check_tolerance(tolerance)
        self._retry_after = _check_retry_after(retry_after)
        self._hand_off_timeout = _check_hand_off_timeout(hand_off_timeout)
        self._pending: dict[str, asyncio.Future[bool]] = {}
        # Sinks given up on after hand_off_timeout, cancelled, kept until they end.
        self._abandoned: set[asyncio.Future[object]] = set()
        self.stats = ReceiverStats()
        self._warnings = _WarningThrottle()

    def __repr__(self) -> str:
        # The signing keys are never shown; only how many there are.
        return (
            f"<WebhookReceiver keys={len(self._keys)} public_url={self._public_url!r} "
            f"accepted={self.stats.accepted}>"
        )

    def signed_url(self, request: web.BaseRequest) -> str:
        """Return the URL a delivery's signature must cover, as Bird called it.

        ``public_url`` followed by the request's raw path and query when it was given;
        else, with ``trust_forwarded``, the scheme and host from ``X-Forwarded-Proto``
        and ``X-Forwarded-Host`` (or ``Host``); else the request's own scheme and host.
        """
        if self._public_url is not None:
            return self._public_url + request.raw_path
        scheme, host = request.scheme, request.host
        if self._trust_forwarded:
            headers = request.headers
            scheme = headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
            host = headers.get("X-Forwarded-Host", host).split(",")[0].strip()
        return f"{scheme}://{host}{request.raw_path}"

    async def handle(self, request: web.BaseRequest) -> web.Response:
        """Handle one delivery: the aiohttp request handler (checks in the module's order)."""
        stats = self.stats
        stats.received += 1
        if request.method != "POST":
            stats._refuse("method")
            return _text(405, "use POST", Allow="POST")
        body = await self._read(request)
        if body is None:
            stats._refuse("too-large")
            return _text(413, f"body over {self._max_body} bytes")
        headers = request.headers
        signature = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        try:
            check_signature(
                self._keys,
                signature=signature,
                timestamp=timestamp,
                url=self.signed_url(request),
                body=body,
                tolerance=self._tolerance,
                now=None,
            )
        except MissingHeaderError as exc:
            stats._refuse("missing-header")
            return _text(400, str(exc))
        except (InvalidSignatureError, StaleTimestampError) as exc:
            reason = "signature" if isinstance(exc, InvalidSignatureError) else "stale"
            stats._refuse(reason)
            self._warnings.warning(reason, "webhook from %s refused: %s", request.remote, exc)
            return _text(401, "unauthorized")
        assert signature is not None
        assert timestamp is not None
        request_id = headers.get(REQUEST_ID_HEADER) or None
        if request_id is not None and not _is_utf8(request_id):
            # Not signed, and no JSON encoder would take it: refused before it is passed on.
            stats._refuse("bad-header")
            return _text(400, f"{REQUEST_ID_HEADER} is not UTF-8 text")
        # The id names a delivery across Bird's retries, but it is not signed: a captured
        # delivery replayed with fresh ids keeps its signature. Either one makes a repeat.
        keys = (request_id, signature) if request_id is not None else (signature,)
        seen = self.seen
        if seen is not None and any(key in seen for key in keys):
            stats.duplicates += 1
            return _text(200, "duplicate")
        earlier = next((self._pending[k] for k in keys if k in self._pending), None)
        if earlier is not None:  # the same delivery is being handed off right now
            if await asyncio.shield(earlier):
                stats.duplicates += 1
                return _text(200, "duplicate")
            stats.busy += 1
            return _text(503, "busy, retry later", **{"Retry-After": self._retry_after})
        try:
            when = dt.datetime.fromtimestamp(parse_timestamp(timestamp), dt.UTC)
        except StaleTimestampError:  # only with tolerance=None
            when = None
        try:
            event = parse_event(body, request_id=request_id, timestamp=when)
        except InvalidEventError as exc:
            stats._refuse("not-an-event")
            return _text(400, str(exc)[:300])
        if not await self._hand_off(keys, event):
            stats.busy += 1
            return _text(503, "busy, retry later", **{"Retry-After": self._retry_after})
        if seen is not None:
            for key in keys:
                seen.add(key)
        stats.accepted += 1
        return _text(200, "ok")

    async def _hand_off(self, keys: tuple[str, ...], event: CallEvent) -> bool:
        """Give ``event`` to the sink; return whether it took it."""
        if self._queue is not None:
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                return False
            except Exception as refusal:  # a queue shut down (3.13+), a subclass refusing
                self._warnings.warning(
                    f"queue-{type(refusal).__name__}",
                    "webhook queue refused event %s: %s: %s",
                    event.request_id,
                    type(refusal).__name__,
                    refusal,
                )
                return False
            return True
        assert self._call is not None
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._pending[key] = done
        accepted = False
        taking: asyncio.Future[object] | None = None
        try:
            # The sink runs as its own task, so the wait is bounded even for a sink that
            # ignores its cancellation, and whatever the callable does wrong (raise when
            # called, return something not awaitable, take other arguments) ends that
            # task with the error: a refused hand-off like any other.
            taking = asyncio.ensure_future(_take(self._call, event))
            await asyncio.wait((taking,), timeout=self._hand_off_timeout)
            if not taking.done():
                self._abandon(taking)
                self._warnings.warning(
                    "sink-timeout",
                    "webhook sink did not take event %s within %gs; answered 503",
                    event.request_id,
                    self._hand_off_timeout,
                )
            elif taking.cancelled():
                self._warnings.warning(
                    "sink-cancelled", "webhook sink cancelled event %s", event.request_id
                )
            elif (exc := taking.exception()) is not None:
                self._warnings.warning(
                    f"sink-{type(exc).__name__}",
                    "webhook sink refused event %s: %s: %s",
                    event.request_id,
                    type(exc).__name__,
                    exc,
                )
            else:
                accepted = True
        except asyncio.CancelledError:  # the request itself was cancelled
            if taking is not None:
                self._abandon(taking)
            raise
        finally:
            for key in keys:
                del self._pending[key]
            done.set_result(accepted)
        return accepted

    def _abandon(self, taking: asyncio.Future[object]) -> None:
        """Cancel a sink's hand-off given up on; keep it referenced until it ends."""
        if taking.done():
            return
        taking.cancel()
        self._abandoned.add(taking)
        taking.add_done_callback(self._forget)

    def _forget(self, taking: asyncio.Future[object]) -> None:
        self._abandoned.discard(taking)
        if not taking.cancelled() and (exc := taking.exception()) is not None:
            logger.debug("an abandoned webhook sink ended with %s: %s", type(exc).__name__, exc)

    async def _read(self, request: web.BaseRequest) -> bytes | None:
        """Read the body, or return ``None`` as soon as it exceeds ``max_body``."""
        limit = self._max_body
        length = request.content_length
        if length is not None and length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
            make it idempotent, or fast. A queue sink never waits.

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
