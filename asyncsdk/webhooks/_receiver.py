"""A webhook receiver for aiohttp.web that never acknowledges an event it then loses.

`WebhookReceiver.handle` is an aiohttp request handler (`webhook_handler` and
`webhook_app`, in `_app`, build one). Each delivery goes through, in this order:

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
6. hand-off (`_handoff`): the event is put on the sink (an `asyncio.Queue`, without
   waiting, or awaited by an async callable for ``hand_off_timeout`` seconds at most;
   a repeat arriving meanwhile waits for the outcome). Only then is
   the answer 200 and the delivery (its id and its signature) remembered. Any failure
   to hand off is a refusal: a full queue, a callable that raises (when called or in
   what it returns), one that is not async or takes other arguments, or one too slow
   to return gets 503 with ``Retry-After``; the delivery is *not* remembered and no
   request waits on it, so Bird's retry is processed like a first delivery. A sink
   with ``store_delivery`` (`RedisStreamSink`) is given both keys, and dedupes across
   replicas where it stores.

With ``telemetry``, each delivery is handled in a ``webhook.receive`` span, its outcome
is counted (``asyncsdk.webhook.deliveries``) and a queue sink's depth reported; the
enrichment span of an accepted event links to its delivery's span.

Imports: aiohttp, the standard library, `asyncsdk.errors`, `asyncsdk.telemetry`, and
the webhooks' `_dedupe`, `_errors`, `_events`, `_handoff` and `_signature`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from asyncsdk.errors import ConfigurationError
from asyncsdk.telemetry import Telemetry, check_telemetry
from asyncsdk.webhooks._dedupe import SeenDeliveries
from asyncsdk.webhooks._errors import (
    InvalidEventError,
    InvalidSignatureError,
    MissingHeaderError,
    StaleTimestampError,
)
from asyncsdk.webhooks._events import CallEvent, parse_event
from asyncsdk.webhooks._handoff import (
    DEFAULT_HAND_OFF_TIMEOUT,
    EventSink,
    HandOff,
    check_hand_off_timeout,
)
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
    "DEFAULT_MAX_BODY",
    "DEFAULT_RETRY_AFTER",
    "RECEIVER_WARNING",
    "ReceiverStats",
    "WebhookReceiver",
]

logger: Final = logging.getLogger("asyncsdk")

DEFAULT_MAX_BODY: Final = 256 * 1024
"""Largest delivery body accepted, in bytes; a call event is a few KiB."""
DEFAULT_RETRY_AFTER: Final = 5
"""``Retry-After`` of a 503 (the sink was full), in whole seconds."""
RECEIVER_WARNING: Final = "asyncsdk_receiver_warning"
"""The attribute a `WebhookReceiver`'s warning log records carry, set to their kind.

The kind is the refusal's (``"signature"``, ``"stale"``) or ``"busy"``; a
`logging.Filter` that keeps records with this attribute shows the receiver's warnings
alone, apart from the rest of the ``asyncsdk`` logger's.
"""
#: Seconds between two warnings of one kind (a flood of refusals is summarized).
_WARNING_INTERVAL: Final = 60.0


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
        logger.warning(message, *args, extra={RECEIVER_WARNING: kind})
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


def _text(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text, headers=headers or None)


class WebhookReceiver:
    """Bird's call webhooks for aiohttp.web: `handle` is the request handler.

    Takes the arguments of `webhook_handler`, which returns ``WebhookReceiver(...).handle``;
    build the receiver yourself to keep its `stats` at hand, or to pass ``telemetry``
    (a `asyncsdk.Telemetry`: a span per delivery, linked from its event's enrichment
    span, and the deliveries and queue depth as metrics)::

        receiver = WebhookReceiver(signing_key, queue, telemetry=telemetry)
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
        telemetry: Telemetry | None = None,
    ) -> None:
        self._keys = signing_keys(signing_key)
        self._telemetry = check_telemetry(telemetry)
        if self._telemetry is not None:
            self._telemetry._instruments.watch_queue(sink)
        self._warnings = _WarningThrottle()
        self._handoff = HandOff(
            sink, check_hand_off_timeout(hand_off_timeout), self._warnings.warning
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
        # Deliveries being handed off, by id and signature: a repeat waits for the answer.
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self.stats = ReceiverStats()

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
        if self._telemetry is None:
            return await self._handle(request)
        request_id = request.headers.get(REQUEST_ID_HEADER)
        response: web.Response = await self._telemetry._instruments.delivery(
            request_id, lambda: self._handle(request)
        )
        return response

    async def _handle(self, request: web.BaseRequest) -> web.Response:
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
            seconds = check_signature(
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
        if seen is not None and (keys[0] in seen or (len(keys) == 2 and keys[1] in seen)):
            stats.duplicates += 1
            return _text(200, "duplicate")
        pending = self._pending
        earlier = pending.get(keys[0]) or (pending.get(keys[1]) if len(keys) == 2 else None)
        if earlier is not None:  # the same delivery is being handed off right now
            if await asyncio.shield(earlier):
                stats.duplicates += 1
                return _text(200, "duplicate")
            stats.busy += 1
            return _text(503, "busy, retry later", **{"Retry-After": self._retry_after})
        try:  # read by check_signature, unless tolerance=None
            when = dt.datetime.fromtimestamp(
                parse_timestamp(timestamp) if seconds is None else seconds, dt.UTC
            )
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
        """Give ``event`` to the sink; return whether it took it.

        Meanwhile a repeat of the delivery (by either key) waits for the answer rather
        than handing the event off a second time; it is told the outcome however the
        hand-off ends, a cancelled request included.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._pending[key] = done
        accepted = False
        try:
            accepted = await self._handoff(event, keys)
        finally:
            for key in keys:
                del self._pending[key]
            done.set_result(accepted)
        return accepted

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
