"""`WebhookSender`: the embedded server's calls, delivered as signed status webhooks.

Calls of the dataset start at ``calls_per_second``; each goes through its lifecycle
(`asyncsdk.server._lifecycle`), one status every ``step`` seconds, and each status is
one delivery: a POST of ``{"service", "event", "payload"}`` to the webhook URL, signed
as Bird signs (`asyncsdk.webhooks.compute_signature`) with a fresh timestamp on every
attempt and the same ``messagebird-request-id``. Like Bird, any answer but a 2xx (or
no answer) is retried at growing intervals: ``first_retry``, times ``retry_factor``
each time, at most ``max_retry_delay`` apart (`retry_delay`), until ``retry_for``
seconds after the first attempt (Bird: 8 hours; here compressed). Every delivery ends
``delivered`` or ``gave-up``, never silently dropped. With ``duplicate`` set, a delivery
that succeeded is sometimes sent once more, as when Bird never saw the 2xx.

One scheduler task keeps a heap of what is due (call starts, deliveries, retries);
at most ``concurrency`` deliveries are in flight.

Imports: aiohttp, msgspec (through the lifecycle), the public `asyncsdk.webhooks`,
the server's own modules and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import msgspec

from asyncsdk.server._dataset import Dataset
from asyncsdk.server._lifecycle import lifecycle, stage_body
from asyncsdk.webhooks import (
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
)

__all__ = ["Delivery", "WebhookConfig", "WebhookSender", "WebhookStats", "retry_delay"]

logger: Final = logging.getLogger("asyncsdk.server")

#: Outcome of a delivery: acknowledged with a 2xx, or given up after ``retry_for``.
DELIVERED: Final = "delivered"
GAVE_UP: Final = "gave-up"


class _StatusOnly(msgspec.Struct):
    status: str | None = None
    direction: str | None = None


_STATUS_DECODER: Final = msgspec.json.Decoder(_StatusOnly)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Where and how the embedded server sends call-status webhooks.

    Attributes:
        url: The webhook URL (``http`` or ``https``), signed exactly as given.
        signing_key: The subscription's signing key.
        calls_per_second: How many calls start per second.
        calls: How many of the dataset's calls to simulate, from the first; ``None``
            for all of them.
        step: Seconds between two status events of one call.
        first_retry: Seconds before the first retry of a failed delivery.
        retry_factor: Each retry waits this many times longer than the one before.
        max_retry_delay: Longest wait between two attempts, in seconds.
        retry_for: Seconds after its first attempt a delivery is given up (Bird: 8 hours).
        timeout: Seconds one attempt may take.
        concurrency: Deliveries in flight at most.
        duplicate: Probability that a delivered event is sent once more (same id).
        seed: Seed of request ids and duplicates.
    """

    url: str
    signing_key: str = field(repr=False)
    calls_per_second: float = 50.0
    calls: int | None = None
    step: float = 0.02
    first_retry: float = 0.05
    retry_factor: float = 2.0
    max_retry_delay: float = 2.0
    retry_for: float = 60.0
    timeout: float = 10.0
    concurrency: int = 64
    duplicate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url must be an http(s) URL, got {self.url!r}")
        if not isinstance(self.signing_key, str) or not self.signing_key:
            raise ValueError("signing_key must be a non-empty string")
        for name in ("calls_per_second", "step", "first_retry", "max_retry_delay", "timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not (isinstance(self.retry_for, int | float) and self.retry_for >= 0):
            raise ValueError(f"retry_for must be 0 or more seconds, got {self.retry_for!r}")
        factor = self.retry_factor
        if not (isinstance(factor, int | float) and math.isfinite(factor) and factor >= 1):
            raise ValueError(f"retry_factor must be a finite number >= 1, got {factor!r}")
        if self.calls is not None and (not isinstance(self.calls, int) or self.calls < 0):
            raise ValueError(f"calls must be None or an int >= 0, got {self.calls!r}")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ValueError(f"concurrency must be an int >= 1, got {self.concurrency!r}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {self.concurrency!r}")
        if not (isinstance(self.duplicate, int | float) and 0 <= self.duplicate <= 1):
            raise ValueError(f"duplicate must be a probability, got {self.duplicate!r}")


def retry_delay(config: WebhookConfig, attempts: int) -> float:
    """Return the seconds to wait after ``attempts`` failed attempts of a delivery.

    ``first_retry`` after the first, growing by ``retry_factor`` with each attempt,
    never more than ``max_retry_delay``. Grown one step at a time and no further once
    at the cap, so it never overflows: ``retry_factor ** attempts`` is past the largest
    float after about a thousand attempts, which 8 hours of retries reach.
    """
    delay, cap, factor = config.first_retry, config.max_retry_delay, config.retry_factor
    for _ in range(attempts - 1):
        if delay >= cap or factor == 1:
            break
        delay *= factor
    return min(delay, cap)


@dataclass(slots=True)
class Delivery:
    """One status event of one call, and how its delivery went.

    Attributes:
        request_id: The ``messagebird-request-id``, kept by every attempt.
        event: ``"voice.inbound"`` or ``"voice.outbound"``.
        call_id: The call.
        status: The call's status in this event.
        final: Whether it is the call's last event (its payload is the dataset's body).
        body: The body, every attempt the same bytes.
        attempts: Attempts made.
        first_attempt: Loop time of the first attempt.
        outcome: ``"delivered"``, ``"gave-up"``, or ``None`` while in progress.
    """

    request_id: str
    event: str
    call_id: uuid.UUID
    status: str | None
    final: bool
    body: bytes = field(repr=False)
    attempts: int = 0
    first_attempt: float | None = None
    outcome: str | None = None


@dataclass(slots=True)
class WebhookStats:
    """Counters of a `WebhookSender` (live).

    Attributes:
        calls: Calls started.
        events: Status events generated.
        attempts: POSTs made, retries and duplicates included.
        delivered: Events acknowledged with a 2xx.
        gave_up: Events given up after ``retry_for``.
        duplicates: Extra sends of an event already delivered.
        answers: Answers by status (``0`` for no answer: refused, reset, timed out).
    """

    calls: int = 0
    events: int = 0
    attempts: int = 0
    delivered: int = 0
    gave_up: int = 0
    duplicates: int = 0
    answers: dict[int, int] = field(default_factory=dict)


class WebhookSender:
    """Simulates the dataset's calls and delivers their status webhooks, as Bird does.

    Use it as an async context manager (or `start` / `stop`); `wait_done` returns once
    every event is delivered or given up.

    Args:
        config: Where to send and how.
        dataset: The calls (the same dataset the API serves, so GET agrees).
        session: An `aiohttp.ClientSession` to send with; one is made otherwise.
    """

    def __init__(
        self,
        config: WebhookConfig,
        dataset: Dataset,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.stats = WebhookStats()
        #: Every event generated so far, in generation order.
        self.deliveries: list[Delivery] = []
        self._session = session
        self._owns_session = session is None
        self._heap: list[tuple[float, int, int | Delivery]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._runner: asyncio.Task[None] | None = None
        self._rng = random.Random(f"asyncsdk.server.webhooks:{config.seed}")
        total = dataset.size if config.calls is None else min(config.calls, dataset.size)
        self._total_calls = total

    async def __aenter__(self) -> WebhookSender:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start sending (the first call starts now)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.concurrency),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            )
        loop = asyncio.get_running_loop()
        if self._total_calls:
            self._push(loop.time(), 0)
        else:
            self._done.set()
        self._runner = asyncio.create_task(self._run(), name="asyncsdk-webhook-sender")

    async def stop(self) -> None:
        """Stop at once: deliveries in flight are cancelled and not retried."""
        tasks = [t for t in (self._runner, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_done(self) -> WebhookStats:
        """Wait until every event is delivered or given up; return the stats."""
        await self._done.wait()
        return self.stats

    @property
    def done(self) -> bool:
        """Whether every event is delivered or given up."""
        return self._done.is_set()

    # --- the scheduler ------------------------------------------------------------

    def _push(self, due: float, item: int | Delivery) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), item))
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        heap = self._heap
        while True:
            if not heap:
                if not self._in_flight:
                    self._done.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = heap[0][0] - loop.time()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            _, _, item = heapq.heappop(heap)
            if isinstance(item, int):
                self._start_call(item, loop.time())
                continue
            await self._slots.acquire()
            task = asyncio.create_task(self._attempt(item))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # the scheduler may be waiting to see that all is done

    def _start_call(self, index: int, now: float) -> None:
        config = self.config
        call_id = self.dataset.call_ids[index]
        body = self.dataset.body(call_id)
        assert body is not None
        head = _STATUS_DECODER.decode(body)
        event, statuses = lifecycle(head.status, head.direction)
        last = len(statuses) - 1
        for position, status in enumerate(statuses):
            delivery = Delivery(
                request_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                event=event,
                call_id=call_id,
                status=status,
                final=position == last,
                body=stage_body(event, body, status, last=position == last),
            )
            self.deliveries.append(delivery)
            self.stats.events += 1
            self._push(now + position * config.step, delivery)
        self.stats.calls += 1
        if index + 1 < self._total_calls:
            self._push(now + 1.0 / config.calls_per_second, index + 1)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            await self._send(delivery)
        except Exception:  # a bug: the delivery is recorded as given up, not dropped
            if delivery.outcome is None:
                delivery.outcome = GAVE_UP
                self.stats.gave_up += 1
            logger.exception(
                "webhook delivery %s given up after %d attempts",
                delivery.request_id,
                delivery.attempts,
            )
        finally:
            self._slots.release()

    async def _send(self, delivery: Delivery) -> None:
        """Make one attempt; record the outcome, or schedule the retry."""
        loop = asyncio.get_running_loop()
        config = self.config
        now = loop.time()
        if delivery.first_attempt is None:
            delivery.first_attempt = now
        delivery.attempts += 1
        self.stats.attempts += 1
        stamp = str(int(time.time()))
        headers = {
            SIGNATURE_HEADER: compute_signature(
                config.signing_key, timestamp=stamp, url=config.url, body=delivery.body
            ),
            TIMESTAMP_HEADER: stamp,
            REQUEST_ID_HEADER: delivery.request_id,
            "Content-Type": "application/json",
        }
        status = 0
        try:
            assert self._session is not None
            async with self._session.post(config.url, data=delivery.body, headers=headers) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        self.stats.answers[status] = self.stats.answers.get(status, 0) + 1
        if 200 <= status < 300:
            if delivery.outcome is None:
                delivery.outcome = DELIVERED
                self.stats.delivered += 1
                if config.duplicate and self._rng.random() < config.duplicate:
                    self.stats.duplicates += 1
                    self._push(loop.time() + config.step, delivery)
            return
        if delivery.outcome is not None:  # a duplicate send that failed: nothing to do
            return
        waited = loop.time() - delivery.first_attempt
        pause = retry_delay(config, delivery.attempts)
        if waited + pause > config.retry_for:
            delivery.outcome = GAVE_UP
            self.stats.gave_up += 1
            return
        self._push(loop.time() + pause, delivery)
