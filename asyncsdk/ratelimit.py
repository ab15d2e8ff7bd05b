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

    on throttle:  w_max = min(accepted rate, current rate); rate = w_max * BETA
    on success:   rate = SCALE * (t - K) ** 3 + w_max,  K = cbrt(w_max * (1 - BETA) / SCALE)
                  rate capped at 2x the measured rate (and at the configured rate, if any)

with ``BETA = 0.7``, ``SCALE = 0.4``, the measured rate smoothed over half-second
buckets with weight 0.8, and a floor of `MIN_ADAPTIVE_RATE`. So after a cut the rate
climbs back quickly, flattens near the rate that was throttled, then probes above it.
Three departures from botocore, all found by runs against a throttling server:

- w_max is the *accepted* rate (responses that were not throttled, per second), not
  the sending rate: 429s come back fast and inflate the sending rate, while what the
  server accepted while it was throttling us is its limit. One cut then lands near
  the limit instead of several 0.7 steps, each costing a ``Retry-After`` pause.
- The rate is cut at most once per `CUT_COOLDOWN`: one throttling episode returns a
  429 for every request in flight, and cutting for each collapsed the rate to the
  floor (TCP likewise cuts once per window).
- Until the first half-second bucket completes, rates are estimated from the
  responses so far (botocore reads 0 there, so a 429 in a client's first moments
  pinned it to the floor for many seconds).
- Probe first: with no rate known, the very first request goes out alone and the
  rest wait for its response (at most `PROBE_TIMEOUT`, so a probe that fails
  without a response never holds anyone for long). One round trip at start-up buys
  the server's rate-limit headers before a burst of unpaced requests meets its
  bucket.
- A cut is measured against the rate the server states (``RateLimit-Policy``) until
  a full half-second bucket of accepted responses exists; before that, a rate
  measured over a few milliseconds is noise.
- Slow start, as in TCP: the first throttle, out of unlimited sending, is measured
  over a few milliseconds and says little about the limit, so the rate then grows by
  one request/s per accepted response (doubling about every second) until the next
  throttle, and only from there does CUBIC run, with a w_max measured over full
  buckets. Without it the rate sat for seconds on a plateau set by that first noisy
  estimate (38 % of the limit in the demo).

Server headers: ``X-RateLimit-Remaining: 0`` (or ``RateLimit-Remaining``) with a
``-Reset`` in seconds pauses sending until the reset, so a client stops before it is
throttled rather than after. In adaptive mode a ``RateLimit-Policy`` header (IETF
draft: ``100;w=60`` or ``"default";q=100;w=60``, a quota per window in seconds) sets
the rate directly to quota / window: a limit the server states need not be
discovered by being throttled. ``X-RateLimit-Limit`` alone is not used: without a
window it does not say how fast to go.

Pacing precision: a timer fires when the loop gets to it, a little late under load.
With a bucket of one token that lateness was lost on every grant (the refill is capped
at the bucket size), and a client set to 500/s sent 360/s. While requests are queued
the bucket therefore keeps up to one extra token of catch-up credit, so the long-run
rate is the configured one; over any window of t seconds the grants stay within
``burst + 1 + rate * t`` (and within ``burst + rate * t`` when timers are punctual).

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
#: Seconds the first request of an adaptive limiter with no known rate may hold the
#: others back while its response (and the server's rate-limit headers) arrives.
PROBE_TIMEOUT: Final = 0.5
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
        "_accepted",
        "_adaptive",
        "_burst",
        "_ceiling",
        "_configured",
        "_k",
        "_last",
        "_last_fail",
        "_max_pause",
        "_paused_until",
        "_probe_deadline",
        "_probing",
        "_rate",
        "_sent",
        "_slow_start",
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
        self._configured = rate  # the user's rate: nothing the server says raises it
        self._ceiling = rate
        self._burst = float(burst)
        self._adaptive = adaptive
        self._max_pause = max_pause
        self._tokens = float(burst)
        self._last = -math.inf
        self._paused_until = -math.inf
        # None: not yet started; True: the probe is out; False: done or not needed.
        self._probing: bool | None = None if adaptive and rate is None else False
        self._probe_deadline = -math.inf
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._throttles = 0
        # adaptive state
        self._sent = _RateMeter()  # every response
        self._accepted = _RateMeter()  # responses that were not throttled
        self._w_max = 0.0
        self._k = 0.0
        self._last_fail = -math.inf
        self._slow_start = False

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
                    if self._probing is None:  # first request: out alone, the rest wait
                        self._probing = True
                        self._probe_deadline = self._paused_until = now + PROBE_TIMEOUT
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
        self._sent.record(now)
        self._accepted.record(now)
        policy = headers.get("RateLimit-Policy")
        if policy is not None:
            stated = parse_policy(policy)
            if stated is not None and self._configured is not None:
                stated = min(stated, self._configured)
            if stated is not None and stated != self._ceiling:
                self._learn_limit(stated)
        if self._slow_start:
            assert self._rate is not None
            self._set_rate(self._rate + 1.0)
        elif self._w_max > 0.0:  # adaptive pacing has started
            self._set_rate(CUBIC_SCALE * (now - self._last_fail - self._k) ** 3 + self._w_max)
        if self._probing:  # after reading the headers, so the others go out paced
            self._end_probe()

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """Pause everyone for ``retry_after`` seconds (capped) and cut the adaptive rate."""
        self._throttles += 1
        if self._probing:
            self._end_probe()  # the pause below, if any, now holds everyone
        now = asyncio.get_running_loop().time()
        if retry_after is not None:
            self._pause(now, retry_after)
        else:
            self._pause_for_exhausted_quota(headers)
        if not self._adaptive:
            return
        self._sent.record(now)
        if now - self._last_fail < CUT_COOLDOWN:
            return  # the same episode: requests already in flight when we cut
        if self._accepted.smoothed > 0.0:
            measured = self._accepted.smoothed
        elif self._ceiling is not None:
            measured = self._ceiling  # trust what the server stated over a few ms of data
        else:
            accepted = self._accepted.rate(now)
            measured = accepted if accepted > 0.0 else self._sent.rate(now)
        current = self._rate if self._rate is not None else measured
        w_max = max(min(measured, current), MIN_ADAPTIVE_RATE)
        self._last_fail = now
        if self._rate is None and self._ceiling is None:
            # Out of unlimited sending: no trustworthy w_max yet (see slow start).
            self._slow_start = True
            self._set_rate(w_max * CUBIC_BETA)
            return
        self._slow_start = False
        self._w_max = w_max
        self._k = (self._w_max * (1.0 - CUBIC_BETA) / CUBIC_SCALE) ** (1.0 / 3.0)
        self._set_rate(self._w_max * CUBIC_BETA)

    # --- internals ---

    def _refill(self, now: float, extra: float = 0.0) -> None:
        """Add the tokens earned since the last refill, up to the burst (plus ``extra``)."""
        rate = self._rate
        assert rate is not None
        if now > self._last:
            elapsed = now - self._last
            self._tokens = min(self._burst + extra, self._tokens + elapsed * rate)
            self._last = now

    def _end_probe(self) -> None:
        """The probe's response arrived: release everyone it held back."""
        self._probing = False
        if self._paused_until == self._probe_deadline:  # not a pause a server asked for
            self._paused_until = -math.inf
        self._reschedule()

    def _learn_limit(self, stated: float) -> None:
        """Adopt a rate the server stated as the ceiling, and pace at it."""
        self._ceiling = stated
        self._slow_start = False
        self._w_max = max(self._w_max, stated)
        if self._rate is None or self._rate > stated or self._w_max == stated:
            self._set_rate(stated)

    def _set_rate(self, rate: float) -> None:
        sent = self._sent.smoothed
        if sent > 0.0:
            rate = min(rate, MAX_RATE_GROWTH * sent)
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
            self._refill(now, extra=1.0)  # catch-up credit for a late timer (module doc)
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
                if key.startswith('"'):  # a policy name, not a quota
                    continue
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


class _RateMeter:
    """Events per second: botocore's smoothed half-second buckets, with an early estimate."""

    __slots__ = ("_bucket", "_count", "_next", "_started", "_total", "smoothed")

    def __init__(self) -> None:
        self.smoothed = 0.0
        self._bucket = -math.inf
        self._next = -math.inf  # where the current bucket ends
        self._count = 0
        self._started = math.nan
        self._total = 0

    def record(self, now: float) -> None:
        """Count one event at ``now``."""
        self._total += 1
        self._count += 1
        if now < self._next:  # the common case: still in the current bucket
            return
        if math.isnan(self._started):
            self._started = now
        bucket = math.floor(now / RATE_BUCKET_SECONDS) * RATE_BUCKET_SECONDS
        if bucket > self._bucket:
            if self._bucket > -math.inf:
                current = self._count / (bucket - self._bucket)
                self.smoothed = current * RATE_SMOOTHING + self.smoothed * (1 - RATE_SMOOTHING)
            self._count = 0
            self._bucket = bucket
            self._next = bucket + RATE_BUCKET_SECONDS

    def rate(self, now: float) -> float:
        """The smoothed rate, or before the first bucket completes, events so far over time."""
        if self.smoothed > 0.0:
            return self.smoothed
        if math.isnan(self._started):
            return 0.0
        return self._total / max(now - self._started, RATE_BUCKET_SECONDS / 10)
