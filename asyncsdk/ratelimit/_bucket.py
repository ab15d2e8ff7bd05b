"""One process's rate limiter: `TokenBucketLimiter`, the local `RateLimiter`.

A FIFO token bucket that applies the throttling rules (who waits, the rate, outages:
``_contract`` sums them up, `asyncsdk.ratelimit._throttling` has them all) to one
event loop's requests. Why not aiolimiter: it is the library we would reach for, and it is fair and
cancel-safe, but its rate is fixed at construction (adaptive mode changes the rate),
it cannot pause all waiters until a server-given time, and it exposes no state to
report. The bucket below is the same idea with those additions.

Pacing precision: a timer fires when the loop gets to it, a little late under load.
With a bucket of one token that lateness was lost on every grant (the refill is capped
at the bucket size), and a client set to 500/s sent 360/s. A timer that fires late
therefore adds the tokens of its own lateness on top of the bucket, for the requests
queued behind it and those that arrive within `LATE_CREDIT` (a caller that awaits its
requests one after another), so the long-run rate is the configured one. The credit
is at most one token or `LATE_CREDIT` seconds of the rate, whichever is more: the
loop's timers fire on whole milliseconds (epoll), so above 1000/s a bucket of one
could grant only two requests per timer, and a client set to 5000/s sent 1500/s. Only
lateness earns that credit: after a pause or an idle spell the bucket holds at most
``burst`` tokens (an earlier credit of one token whenever requests were queued sent
two requests 1 ms apart at the end of every pause, and a server bucket of one refused
the second, pause after pause).

All times are seconds on the event loop's monotonic clock.

What it shows of its state (its rate, phase, queue, pauses and expected wait: what
reports, the client's counters and telemetry read) is in ``_bucket_views``.

Imports: the standard library and this subpackage's ``_bucket_views`` and ``_throttling``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Mapping
from typing import Final

from ._bucket_views import BucketViews
from ._throttling import (
    CORRELATED_COOLDOWN,
    CORRELATED_PAUSE,
    MIN_RATE,
    OUTAGE_PAUSE,
    Controller,
    Phase,
    RateController,
    SharedRateController,
    Verdict,
    classify,
    exhausted_for,
    outage,
    parse_policy,
)

__all__ = [
    "MIN_ADAPTIVE_RATE",
    "TokenBucketLimiter",
    "parse_policy",
]

#: Requests per second adaptive mode never goes below.
MIN_ADAPTIVE_RATE: Final = MIN_RATE
#: Seconds the first request of an adaptive limiter with no known rate may hold the
#: others back while its response (and the server's rate-limit headers) arrives; after
#: that the others start at a startup pace for a round trip of this length.
PROBE_TIMEOUT: Final = 0.5
#: Probes that may fail (no response, or throttled) before startup begins anyway.
MAX_PROBES: Final = 3
#: Seconds of lateness a token timer may make up at once (module doc): two ticks of the
#: loop's millisecond timers.
LATE_CREDIT: Final = 0.002
#: Tokens this close to a whole one count as whole: refills are float sums, and a
#: timer armed for a 1e-16 s shortfall would never see the clock move.
_TOKEN_EPSILON: Final = 1e-9


class TokenBucketLimiter(BucketViews):
    """A FIFO token bucket for one event loop, with pauses and an adaptive rate.

    Args:
        rate: Requests per second, or ``None`` for no fixed limit.
        burst: Bucket capacity: requests that may go back to back. ``1`` paces evenly.
        adaptive: Follow the server's throttling (see the module doc); ``False`` keeps
            ``rate`` as a fixed pace.
        max_pause: Longest pause, in seconds, a server response can impose.
    """

    __slots__ = (
        "_burst",
        "_control",
        "_credit_until",
        "_last",
        "_max_pause",
        "_outage",
        "_paused_until",
        "_pauses",
        "_policy",
        "_probe_started",
        "_probes",
        "_quiet_until",
        "_throttles",
        "_timer",
        "_timer_due",
        "_timer_tokens",
        "_tokens",
        "_waiters",
    )

    def __init__(
        self, rate: float | None, *, burst: int = 1, adaptive: bool = True, max_pause: float = 60.0
    ) -> None:
        self._control: Controller
        if rate is None and adaptive:  # a rate to discover, on a quota that may be shared
            self._control = SharedRateController(waiting=lambda: self.waiting)
        else:
            self._control = RateController(rate, adaptive=adaptive)
        self._burst = float(burst)
        self._max_pause = max_pause
        self._tokens = float(burst)
        self._last = -math.inf
        self._paused_until = -math.inf
        self._quiet_until = -math.inf  # no correlated pause before (module doc)
        self._probe_started: float | None = None  # when the probe out was granted
        self._probes = 0
        self._policy: str | None = None  # the last RateLimit-Policy value read
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf
        self._timer_tokens = False  # whether the timer is armed for a token
        self._credit_until = -math.inf  # a late timer's spare tokens last until then
        self._outage = False  # nearly every attempt failed: one probe at a time
        self._throttles = 0
        self._pauses = 0

    # --- the protocol ---

    async def acquire(self) -> None:
        """Wait for a token, first come first served.

        Returns at once when nobody waits, no pause is in force and a token is free.
        """
        loop = asyncio.get_running_loop()
        if not self._waiters:
            now = loop.time()
            if now >= self._paused_until and self._take(now):
                return
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        if len(self._waiters) == 1:
            self._reschedule()
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.cancelled():
                # Granted, then cancelled before it ran: the grant goes back to the
                # next in line. (A waiter cancelled while queued stays in the deque
                # as a done future; `_wake` drops it when it reaches the head.)
                self._control.failure(loop.time(), server=False)
                if self._control.rate is not None:
                    self._tokens = min(self._burst, self._tokens + 1.0)
                self._probe_started = None
                self._reschedule()
            raise

    def on_success(self, headers: Mapping[str, str]) -> None:
        """Record an answer; adopt a stated limit; pause if the quota is stated used up."""
        control = self._control
        now = asyncio.get_running_loop().time()
        old = control.rate
        exhausted = exhausted_for(headers)
        if exhausted is not None:
            self._pause(now, exhausted)
        self._read_policy(headers, now)
        control.response(now, False)
        self._outage = False  # an answer: whatever was down is up
        if self._probe_started is not None:  # the probe got its answer
            control.start(now, now - self._probe_started)
            self._probe_started = None
            self._changed(now, old)
            self._reschedule()
        elif control.rate != old:
            self._changed(now, old)

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """Record throttling; pause every request if it shows the quota exhausted."""
        self._throttles += 1
        control = self._control
        now = asyncio.get_running_loop().time()
        old = control.rate
        self._read_policy(headers, now)
        control.response(now, True)
        if control.rate != old:
            self._changed(now, old)
        exhausted = exhausted_for(headers)
        verdict = classify(control.tally, now, exhausted=exhausted, quiet_until=self._quiet_until)
        if verdict is Verdict.EXHAUSTED:
            assert exhausted is not None
            self._pause(now, exhausted)  # the stated reset, not the whole-second Retry-After
        elif verdict is Verdict.CORRELATED and control.pauses_on_correlated:
            self._pause(now, CORRELATED_PAUSE if retry_after is None else retry_after)
            self._quiet_until = self._paused_until + CORRELATED_COOLDOWN
        self._outage = False  # throttled is answered: the server is up
        if self._probe_started is not None:
            self._probe_failed(now)

    def on_failure(self, *, server: bool = True) -> None:
        """Record a failed request; in an outage, pause and probe; replace a failed probe.

        Args:
            server: The server failed it; ``False`` when this client gave up on it.
        """
        now = asyncio.get_running_loop().time()
        control = self._control
        control.failure(now, server=server)
        down = self._outage or (now >= self._paused_until and outage(control.tally, now))
        if server and down:
            # Down: everyone waits, then one request probes (`_take`) until one is
            # answered; an outage probe that fails starts the next wait.
            self._outage = True
            self._probe_started = None
            self._pause(now, OUTAGE_PAUSE)
            return
        if self._probe_started is not None:
            self._probe_failed(now)

    # --- internals ---

    def _take(self, now: float) -> bool:
        """Grant one request at ``now`` if the rate, the bucket or the probe allow it."""
        control = self._control
        rate = control.rate
        if self._outage:  # one probe at a time until the server answers again
            if self._probe_started is not None and now < self._probe_started + PROBE_TIMEOUT:
                return False
            self._probe_started = now
            control.grant(now)
            return True
        if rate is None:
            if control.phase is Phase.PROBE:
                if self._probe_started is not None:
                    if now < self._probe_started + PROBE_TIMEOUT:
                        return False  # the probe is out: wait for its answer
                    # No answer in time: start slowly, as if the round trip were this long.
                    control.start(now, PROBE_TIMEOUT)
                    self._probe_started = None
                    self._tokens = self._burst
                    self._last = now
                    return self._take(now)
                self._probe_started = now
            control.grant(now)
            return True
        # A late timer's spare tokens serve the requests right behind it, then lapse.
        spare = self._tokens - self._burst if now < self._credit_until else 0.0
        self._refill(now, rate, extra=max(0.0, spare))
        if self._tokens >= 1.0 - _TOKEN_EPSILON:
            self._tokens -= 1.0
            control.grant(now)
            return True
        return False

    def _grant_burst(self, now: float, extra: int) -> None:
        """Grant up to ``extra`` more queued callers at once, paid by the tokens to come.

        A burst test (``_throttling._bursts``): the tokens go negative by what was
        granted, so the average rate is unchanged; the controller learns how many went.
        """
        sent = 0
        waiters = self._waiters
        while sent < extra and waiters:
            head = waiters.popleft()
            if head.done():  # cancelled while queued
                continue
            self._tokens -= 1.0
            self._control.grant(now)
            head.set_result(None)
            sent += 1
        self._control.burst_sent(sent)

    def _probe_failed(self, now: float) -> None:
        """The probe got no usable answer: the next request probes, or startup begins."""
        assert self._probe_started is not None
        if self._control.phase is not Phase.PROBE:  # an outage probe, now answered
            self._probe_started = None
            self._reschedule()
            return
        self._probes += 1
        if self._probes >= MAX_PROBES and self._control.phase is Phase.PROBE:
            self._control.start(now, max(now - self._probe_started, PROBE_TIMEOUT / MAX_PROBES))
            self._tokens = self._burst
            self._last = now
        self._probe_started = None
        self._reschedule()

    def _read_policy(self, headers: Mapping[str, str], now: float) -> None:
        policy = headers.get("RateLimit-Policy")
        if policy is not None and policy != self._policy:
            self._policy = policy
            stated = parse_policy(policy)
            if stated is not None:
                self._control.state(stated, now)

    def _changed(self, now: float, old: float | None) -> None:
        """The rate changed: bank the tokens earned at the old rate."""
        if old is None:  # from unlimited (or probing) to paced: start with a full bucket
            self._tokens = self._burst
            self._last = now
        else:
            self._refill(now, old)

    def _refill(self, now: float, rate: float, extra: float = 0.0) -> None:
        """Add the tokens earned at ``rate`` since the last refill, up to burst + ``extra``."""
        if now > self._last:
            elapsed = now - self._last
            self._tokens = min(self._burst + extra, self._tokens + elapsed * rate)
            self._last = now

    def _pause(self, now: float, seconds: float) -> None:
        until = now + min(max(seconds, 0.0), self._max_pause)
        if until > self._paused_until:
            if self._paused_until < now:
                self._pauses += 1
            rate = self._control.rate
            if rate is not None:
                self._refill(now, rate)
            self._paused_until = until
            self._control.paused(until)
            self._reschedule()

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_due = math.inf
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        """Grant requests to waiters at the head; arm one timer for the next grant."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        # A timer armed for a token that fired late earns the tokens of its lateness
        # (module doc); one armed for the end of a pause or a probe does not.
        late = max(0.0, now - self._timer_due) if self._timer_tokens else 0.0
        self._timer_due = math.inf
        waiters = self._waiters
        control = self._control
        while waiters:
            head = waiters[0]
            if head.done():  # cancelled while queued
                waiters.popleft()
                continue
            if now < self._paused_until:
                due, tokens = self._paused_until, False
                break
            rate = control.rate
            if rate is None or self._outage:
                if self._take(now):
                    waiters.popleft().set_result(None)
                    continue
                assert self._probe_started is not None
                due, tokens = self._probe_started + PROBE_TIMEOUT, False
                break
            if late:
                self._credit_until = now + LATE_CREDIT
            self._refill(now, rate, extra=min(late * rate, max(1.0, LATE_CREDIT * rate)))
            if self._tokens >= 1.0 - _TOKEN_EPSILON:
                self._tokens -= 1.0
                control.grant(now)
                waiters.popleft().set_result(None)
                if extra := control.want_burst(now):  # none queued: a void burst
                    self._grant_burst(now, extra)
                continue
            due, tokens = now + max((1.0 - self._tokens) / rate, _TOKEN_EPSILON), True
            break
        else:
            return
        self._timer_due = due
        self._timer_tokens = tokens
        self._timer = loop.call_at(due, self._wake)
