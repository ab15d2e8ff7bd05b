"""Client-side rate limiting: the `RateLimiter` protocol and the local `TokenBucketLimiter`.

The client awaits `RateLimiter.acquire` before every attempt (retries included) and
reports each response back, so a limiter can pace requests, pause all of them when the
server says so, and adapt its rate to the server's throttling. A distributed backend
(Redis, for a fleet sharing one account-wide quota) implements the same protocol.

Why not aiolimiter: it is the library we would reach for, and it is fair and
cancel-safe, but its rate is fixed at construction (adaptive mode changes the rate on
every response), it has no way to pause all waiters until a server-given time
(``Retry-After``), and it exposes no state to report. The bucket below is the same
idea in ~150 lines with those three additions.

Adaptive mode follows botocore's "adaptive" retry mode: the limiter sends unthrottled
until the first throttling response, then sets its rate by CUBIC (the TCP congestion
window curve) over the measured sending rate::

    on throttle:  w_max = min(measured rate, current rate); rate = w_max * BETA
    on success:   rate = SCALE * (t - K) ** 3 + w_max,  K = cbrt(w_max * (1 - BETA) / SCALE)
                  rate capped at 2x the measured rate (and at the configured rate, if any)

with ``BETA = 0.7``, ``SCALE = 0.4``, the measured rate smoothed over half-second
buckets with weight 0.8, and a floor of `MIN_ADAPTIVE_RATE`. So after a cut the rate
climbs back quickly, flattens near the rate that was throttled, then probes above it.
Two departures from botocore, both found by tests against a throttling server: the
rate is cut at most once per `CUT_COOLDOWN` (one throttling episode returns a 429 for
every request in flight, and cutting for each collapsed the rate to the floor, as TCP
avoids by cutting once per window), and until the first half-second bucket completes
the measured rate is estimated from the responses so far (botocore reads 0 there, so
a 429 in a client's first moments pinned it to the floor for many seconds).

Server headers: ``X-RateLimit-Remaining: 0`` (or ``RateLimit-Remaining``) with a
``-Reset`` in seconds pauses sending until the reset, so a client stops before it is
throttled rather than after. In adaptive mode a ``RateLimit-Policy`` header (IETF
draft: ``100;w=60`` or ``"default";q=100;w=60``, a quota per window in seconds) sets
the rate directly to quota / window: a limit the server states need not be
discovered by being throttled. ``X-RateLimit-Limit`` alone is not used: without a
window it does not say how fast to go.

All times are seconds on the event loop's monotonic clock.

Imports: the standard library only.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Mapping
from typing import Final, Protocol, runtime_checkable

__all__ = ["MIN_ADAPTIVE_RATE", "RateLimiter", "TokenBucketLimiter", "parse_policy"]

#: CUBIC multiplicative decrease: the rate after a throttle is this share of w_max.
CUBIC_BETA: Final = 0.7
#: CUBIC scale constant (requests/s per s**3).
CUBIC_SCALE: Final = 0.4
#: Requests per second adaptive mode never goes below.
MIN_ADAPTIVE_RATE: Final = 0.5
#: Adaptive mode never raises the rate above this multiple of the measured rate.
MAX_RATE_GROWTH: Final = 2.0
#: Seconds after a cut during which further throttling responses do not cut again.
CUT_COOLDOWN: Final = 0.5
#: Seconds per bucket of the measured-rate estimate, and the smoothing weight.
RATE_BUCKET_SECONDS: Final = 0.5
RATE_SMOOTHING: Final = 0.8
#: Tokens this close to a whole one count as whole: refills are float sums, and a
#: timer armed for a 1e-16 s shortfall would never see the clock move.
_TOKEN_EPSILON: Final = 1e-9
#: A ``-Reset`` header larger than this is a Unix time, not a delay (GitHub style).
_EPOCH_THRESHOLD: Final = 1e9


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a rate limiter.

    Implementations must be safe to share by every task of one event loop, and
    ``acquire`` must be cancel-safe: a cancelled waiter takes no capacity.
    """

    async def acquire(self) -> None:
        """Wait until one more request may be sent."""
        ...

    def on_success(self, headers: Mapping[str, str]) -> None:
        """Record a response that was not throttled (any status but 429/503)."""
        ...

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """Record a throttling response; pause every request for ``retry_after`` seconds."""
        ...


class TokenBucketLimiter:
    """A FIFO token bucket for one event loop, with pauses and an adaptive rate.

    Args:
        rate: Requests per second, or ``None`` for no fixed limit.
        burst: Bucket capacity: requests that may go back to back. ``1`` paces evenly.
        adaptive: Cut the rate on throttling and regrow it by CUBIC (see module doc).
        max_pause: Longest pause, in seconds, a server response can impose.
    """

    __slots__ = (
        "_adaptive",
        "_burst",
        "_ceiling",
        "_k",
        "_last",
        "_last_fail",
        "_max_pause",
        "_measured",
        "_paused_until",
        "_rate",
        "_rate_bucket",
        "_rate_count",
        "_responses",
        "_started",
        "_throttles",
        "_timer",
        "_tokens",
        "_w_max",
        "_waiters",
    )

    def __init__(
        self, rate: float | None, *, burst: int = 1, adaptive: bool = True, max_pause: float = 60.0
    ) -> None:
        self._rate = rate
        self._ceiling = rate
        self._burst = float(burst)
        self._adaptive = adaptive
        self._max_pause = max_pause
        self._tokens = float(burst)
        self._last = -math.inf
        self._paused_until = -math.inf
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._throttles = 0
        # adaptive state
        self._measured = 0.0
        self._rate_bucket = -math.inf
        self._rate_count = 0
        self._w_max = 0.0
        self._k = 0.0
        self._last_fail = -math.inf
        self._started = math.nan
        self._responses = 0

    # --- state, for reports and tests ---

    @property
    def rate(self) -> float | None:
        """The current sending rate in requests per second; ``None`` is unlimited."""
        return self._rate

    @property
    def waiting(self) -> int:
        """How many tasks are waiting in `acquire`."""
        return sum(1 for f in self._waiters if not f.done())

    def __repr__(self) -> str:
        rate = "unlimited" if self._rate is None else f"{self._rate:.2f}/s"
        return (
            f"<TokenBucketLimiter rate={rate} burst={self._burst:g} tokens={self._tokens:.2f} "
            f"waiting={self.waiting} adaptive={self._adaptive} throttles={self._throttles}>"
        )

    # --- the protocol ---

    async def acquire(self) -> None:
        """Wait for a token, first come first served.

        Returns at once when nobody waits, no pause is in force and a token is free.
        """
        loop = asyncio.get_running_loop()
        if not self._waiters:
            now = loop.time()
            if now >= self._paused_until:
                if self._rate is None:
                    return
                self._refill(now)
                if self._tokens >= 1.0 - _TOKEN_EPSILON:
                    self._tokens -= 1.0
                    return
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        if len(self._waiters) == 1:
            self._reschedule()
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.cancelled():
                # Granted, then cancelled before it ran: the token goes back to the
                # next in line. (A waiter cancelled while queued stays in the deque
                # as a done future; `_wake` drops it when it reaches the head.)
                self._tokens = min(self._burst, self._tokens + 1.0)
                self._reschedule()
            raise

    def on_success(self, headers: Mapping[str, str]) -> None:
        """Grow the adaptive rate; honour ``RateLimit-Remaining: 0``."""
        self._pause_for_exhausted_quota(headers)
        if not self._adaptive:
            return
        now = asyncio.get_running_loop().time()
        self._measure(now)
        policy = headers.get("RateLimit-Policy")
        if policy is not None:
            stated = parse_policy(policy)
            if stated is not None and stated != self._ceiling:
                self._learn_limit(stated)
        if self._w_max > 0.0:  # adaptive pacing has started
            self._set_rate(CUBIC_SCALE * (now - self._last_fail - self._k) ** 3 + self._w_max)

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """Pause everyone for ``retry_after`` seconds (capped) and cut the adaptive rate."""
        self._throttles += 1
        now = asyncio.get_running_loop().time()
        if retry_after is not None:
            self._pause(now, retry_after)
        else:
            self._pause_for_exhausted_quota(headers)
        if not self._adaptive:
            return
        measured = self._measure(now)
        if now - self._last_fail < CUT_COOLDOWN:
            return  # the same episode: requests already in flight when we cut
        current = self._rate if self._rate is not None else measured
        w_max = min(measured, current) if measured > 0.0 else current
        self._w_max = max(w_max, MIN_ADAPTIVE_RATE)
        self._k = (self._w_max * (1.0 - CUBIC_BETA) / CUBIC_SCALE) ** (1.0 / 3.0)
        self._last_fail = now
        self._set_rate(self._w_max * CUBIC_BETA)

    # --- internals ---

    def _refill(self, now: float) -> None:
        rate = self._rate
        assert rate is not None
        if now > self._last:
            elapsed = now - self._last
            self._tokens = min(self._burst, self._tokens + elapsed * rate)
            self._last = now

    def _learn_limit(self, stated: float) -> None:
        """Adopt a rate the server stated as the ceiling, and pace at it."""
        self._ceiling = stated
        self._w_max = max(self._w_max, stated)
        if self._rate is None or self._rate > stated or self._w_max == stated:
            self._set_rate(stated)

    def _measure(self, now: float) -> float:
        """Count one response into the smoothed sending-rate estimate; return it."""
        if math.isnan(self._started):
            self._started = now
        self._responses += 1
        bucket = math.floor(now / RATE_BUCKET_SECONDS) * RATE_BUCKET_SECONDS
        self._rate_count += 1
        if bucket > self._rate_bucket:
            if self._rate_bucket > -math.inf:
                current = self._rate_count / (bucket - self._rate_bucket)
                self._measured = current * RATE_SMOOTHING + self._measured * (1 - RATE_SMOOTHING)
            self._rate_count = 0
            self._rate_bucket = bucket
        if self._measured > 0.0:
            return self._measured
        # No complete bucket yet: responses so far over the time they took.
        elapsed = max(now - self._started, RATE_BUCKET_SECONDS / 10)
        return self._responses / elapsed

    def _set_rate(self, rate: float) -> None:
        if self._measured > 0.0:
            rate = min(rate, MAX_RATE_GROWTH * self._measured)
        if self._ceiling is not None:
            rate = min(rate, self._ceiling)
        rate = max(rate, MIN_ADAPTIVE_RATE)
        if self._rate is None:  # from unlimited to paced: start with a full bucket
            self._tokens = self._burst
            self._last = asyncio.get_running_loop().time()
        else:
            self._refill(asyncio.get_running_loop().time())
        self._rate = rate

    def _pause(self, now: float, seconds: float) -> None:
        until = now + min(max(seconds, 0.0), self._max_pause)
        if until > self._paused_until:
            self._paused_until = until
            self._reschedule()

    def _pause_for_exhausted_quota(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("X-RateLimit-Remaining") or headers.get("RateLimit-Remaining")
        if remaining is None or remaining.strip() != "0":
            return
        reset = headers.get("X-RateLimit-Reset") or headers.get("RateLimit-Reset")
        try:
            seconds = float(reset) if reset is not None else math.nan
        except ValueError:
            return
        if not math.isfinite(seconds):
            return
        if seconds > _EPOCH_THRESHOLD:  # a Unix time, not a delay
            seconds -= time.time()
        self._pause(asyncio.get_running_loop().time(), seconds)

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        """Grant tokens to waiters at the head; arm one timer for the next grant."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiters = self._waiters
        while waiters:
            head = waiters[0]
            if head.done():  # cancelled while queued
                waiters.popleft()
                continue
            if now < self._paused_until:
                delay = self._paused_until - now
                break
            if self._rate is None:
                waiters.popleft().set_result(None)
                continue
            self._refill(now)
            if self._tokens >= 1.0 - _TOKEN_EPSILON:
                self._tokens -= 1.0
                waiters.popleft().set_result(None)
                continue
            delay = max((1.0 - self._tokens) / self._rate, _TOKEN_EPSILON)
            break
        else:
            return
        self._timer = loop.call_at(now + delay, self._wake)


def parse_policy(value: str) -> float | None:
    """Read a ``RateLimit-Policy`` header as requests per second, or ``None``.

    Accepts the IETF draft forms ``100;w=60`` and ``"name";q=100;w=60`` (the first
    policy when several are listed). A missing window means one second.
    """
    first = value.split(",", 1)[0]
    quota: float | None = None
    window = 1.0
    for index, part in enumerate(first.split(";")):
        key, _, raw = part.strip().partition("=")
        try:
            if index == 0 and not raw:
                quota = float(key)
            elif key == "q":
                quota = float(raw)
            elif key == "w":
                window = float(raw)
        except ValueError:
            return None
    if quota is None or not (quota > 0 and window > 0) or not math.isfinite(quota / window):
        return None
    return quota / window
