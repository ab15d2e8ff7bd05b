"""Handing an accepted event to the sink: a queue at once, or a callable in bounded time.

A sink is an `asyncio.Queue` (``put_nowait``: full means refused, never a wait) or an
async callable. A callable that also has ``store_delivery(event, keys)`` (a
`DeliverySink`, such as `RedisStreamSink`) is given the delivery's dedupe keys too
(its request id and signature), so it can dedupe where it stores.

A callable runs as its own task, awaited for ``timeout`` seconds at most, so the wait
is bounded even for a sink that ignores its cancellation. The bound is kept by one
timer per `HandOff`, not one per event: every hand-off gets the same timeout, so the
deadlines fall in the order the hand-offs began, and the timer is set for the oldest
one only (a busy receiver paid for a timer, a waiter and callbacks per event with
`asyncio.wait`); whatever it does wrong
(raise when called or when awaited, return something not awaitable, take other
arguments, not return in time) is a refusal, never an exception to the receiver, and
is logged through the receiver's throttled warnings. A sink given up on
is cancelled and kept referenced until it ends; while `MAX_ABANDONED` of them have not
ended (a sink that ignores its cancellation), events are refused without calling it.

Imports: the standard library, `asyncsdk.errors` and the webhooks' `_events`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Final, Protocol, runtime_checkable

from asyncsdk.errors import ConfigurationError
from asyncsdk.webhooks._events import CallEvent

__all__ = [
    "DEFAULT_HAND_OFF_TIMEOUT",
    "DeliverySink",
    "EventSink",
    "HandOff",
    "check_hand_off_timeout",
]

logger: Final = logging.getLogger("asyncsdk")

DEFAULT_HAND_OFF_TIMEOUT: Final = 5.0
"""Seconds a callable sink may take to take an event before the answer is 503."""

#: Where accepted events go: a queue (never awaited: full means 503) or an async callable.
EventSink = (
    asyncio.Queue[CallEvent]
    | asyncio.Queue[CallEvent | None]
    | Callable[[CallEvent], Awaitable[object]]
)


@runtime_checkable
class DeliverySink(Protocol):
    """A sink that dedupes where it stores: given each delivery's keys with its event."""

    async def store_delivery(self, event: CallEvent, keys: tuple[str, ...]) -> bool:
        """Store ``event`` unless one of ``keys`` was stored; return whether it was new."""
        ...


#: ``warn(kind, message, *args)``: a warning, throttled per kind by the receiver.
Warn = Callable[..., None]

#: Sinks given up on that ignore their cancellation, kept at most: beyond, events are
#: refused without calling the sink, so a stuck sink cannot grow the process forever.
MAX_ABANDONED: Final = 1000


def check_hand_off_timeout(value: float) -> float:
    """Return ``value`` as seconds, or raise `ConfigurationError` saying what to pass."""
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


class HandOff:
    """Give events to one sink; ``await hand_off(event)`` says whether it took it.

    Args:
        sink: An `asyncio.Queue` or an async callable.
        timeout: Seconds a callable has to take an event (`check_hand_off_timeout`).
        warn: Where refusals are reported, ``warn(kind, message, *args)``.

    Raises:
        TypeError: ``sink`` is neither a queue nor callable.
    """

    __slots__ = (
        "_abandoned",
        "_call",
        "_delivery",
        "_inflight",
        "_queue",
        "_warn",
        "_watch",
        "timeout",
    )

    def __init__(self, sink: EventSink, timeout: float, warn: Warn) -> None:
        if isinstance(sink, asyncio.Queue):
            self._queue: asyncio.Queue[CallEvent] | None = sink  # type: ignore[assignment]
            self._call: Callable[[CallEvent], Awaitable[object]] | None = None
        elif callable(sink):
            self._queue, self._call = None, sink
        else:
            raise TypeError(
                f"sink must be an asyncio.Queue or an async callable, got {type(sink).__name__}"
            )
        self._delivery: DeliverySink | None = sink if isinstance(sink, DeliverySink) else None
        self.timeout = timeout
        self._warn = warn
        # Sinks given up on after the timeout, cancelled, kept until they end.
        self._abandoned: set[asyncio.Future[object]] = set()
        # Hand-offs being waited for, oldest first: task -> (deadline, its waiter).
        self._inflight: dict[asyncio.Future[object], tuple[float, asyncio.Future[None]]] = {}
        # The timer set for the oldest deadline, and its loop.
        self._watch: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None

    async def __call__(self, event: CallEvent, keys: tuple[str, ...] = ()) -> bool:
        """Give ``event`` (with its dedupe ``keys``) to the sink; return whether it took it."""
        if self._queue is not None:
            return self._put(self._queue, event)
        assert self._call is not None
        if len(self._abandoned) >= MAX_ABANDONED:
            self._warn(
                "sink-stuck",
                "webhook sink still runs %d hand-offs it was given up on; event %s refused "
                "without calling it",
                len(self._abandoned),
                event.request_id,
            )
            return False
        taking: asyncio.Future[object]
        try:
            # A call that raises at once, or returns no awaitable, is a refusal too.
            if self._delivery is not None and keys:
                stored: Awaitable[object] = self._delivery.store_delivery(event, keys)
                taking = asyncio.ensure_future(stored)
            else:
                taking = asyncio.ensure_future(_take(self._call, event))
        except Exception as refusal:
            self._refused(event, refusal)
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._inflight[taking] = (loop.time() + self.timeout, waiter)
        taking.add_done_callback(self._settled)
        self._arm(loop)
        try:
            await waiter
        except asyncio.CancelledError:  # the request itself was cancelled
            self._inflight.pop(taking, None)
            self._abandon(taking)
            raise
        if not taking.done():
            self._abandon(taking)
            self._warn(
                "sink-timeout",
                "webhook sink did not take event %s within %gs; answered 503",
                event.request_id,
                self.timeout,
            )
            return False
        if taking.cancelled():
            self._warn("sink-cancelled", "webhook sink cancelled event %s", event.request_id)
            return False
        if (exc := taking.exception()) is not None:
            self._refused(event, exc)
            return False
        return True

    def _refused(self, event: CallEvent, exc: BaseException) -> None:
        self._warn(
            f"sink-{type(exc).__name__}",
            "webhook sink refused event %s: %s: %s",
            event.request_id,
            type(exc).__name__,
            exc,
        )

    def _settled(self, taking: asyncio.Future[object]) -> None:
        """Wake the hand-off waiting for ``taking``, now done (unless it timed out)."""
        entry = self._inflight.pop(taking, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(None)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Set the timer for the oldest deadline, unless one is set on this loop."""
        if self._watch is not None and self._watch[0] is loop:
            return
        for deadline, _ in self._inflight.values():
            self._watch = (loop, loop.call_at(deadline, self._expire, loop, deadline))
            return
        self._watch = None

    def _expire(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        """Wake the hand-offs whose deadline is ``now`` or earlier; set the next timer."""
        self._watch = None
        inflight = self._inflight
        while inflight:
            taking = next(iter(inflight))
            deadline, waiter = inflight[taking]
            if deadline > now:
                break
            del inflight[taking]
            if not waiter.done():
                waiter.set_result(None)
        self._arm(loop)

    def _put(self, queue: asyncio.Queue[CallEvent], event: CallEvent) -> bool:
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        except Exception as refusal:  # a queue shut down (3.13+), a subclass refusing
            self._warn(
                f"queue-{type(refusal).__name__}",
                "webhook queue refused event %s: %s: %s",
                event.request_id,
                type(refusal).__name__,
                refusal,
            )
            return False
        return True

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
