"""The local token bucket: rate bound, FIFO, cancel safety, pauses, adaptive rate.

All on a virtual clock (tests/_vtime.py): waits are exact and nothing sleeps.
"""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from asyncsdk import RateLimiter, TokenBucketLimiter
from asyncsdk.ratelimit import (
    CUBIC_BETA,
    CUBIC_SCALE,
    PROBE_TIMEOUT,
    RATE_BUCKET_SECONDS,
    RATE_SMOOTHING,
    _RateMeter,
    parse_policy,
)

from . import _vtime

NO_HEADERS: dict[str, str] = {}


def test_implements_the_protocol() -> None:
    assert isinstance(TokenBucketLimiter(10), RateLimiter)


@pytest.mark.parametrize(("rate", "burst"), [(10.0, 1), (200.0, 1), (50.0, 10), (3.0, 4)])
def test_grants_never_exceed_burst_plus_rate_times_t(rate: float, burst: int) -> None:
    async def scenario() -> list[float]:
        limiter = TokenBucketLimiter(rate, burst=burst, adaptive=False)
        loop = asyncio.get_running_loop()
        grants: list[float] = []

        async def worker() -> None:
            for _ in range(20):
                await limiter.acquire()
                grants.append(loop.time())

        await asyncio.gather(*(worker() for _ in range(16)))
        return grants

    grants = _vtime.run(scenario())
    assert len(grants) == 320
    start = grants[0]
    for i, t in enumerate(grants):
        # every prefix of the grant sequence respects the bucket
        assert i + 1 <= burst + rate * (t - start) + 1e-6
    # and pacing is even: total time is what the rate implies
    assert grants[-1] - start == pytest.approx((320 - burst) / rate, rel=1e-6)


def test_waiters_are_served_first_come_first_served() -> None:
    async def scenario() -> list[int]:
        limiter = TokenBucketLimiter(5.0, burst=1, adaptive=False)
        order: list[int] = []

        async def worker(n: int) -> None:
            await limiter.acquire()
            order.append(n)

        tasks = []
        for n in range(10):
            tasks.append(asyncio.create_task(worker(n)))
            await asyncio.sleep(0)  # let each enqueue in turn
        await asyncio.gather(*tasks)
        return order

    assert _vtime.run(scenario()) == list(range(10))


def test_uncontended_acquire_does_not_wait() -> None:
    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=False)
        loop = asyncio.get_running_loop()
        for _ in range(1000):
            await limiter.acquire()
        return loop.time()

    assert _vtime.run(scenario()) == 0.0


def test_cancelled_waiter_takes_no_token() -> None:
    async def scenario() -> tuple[list[float], int]:
        limiter = TokenBucketLimiter(1.0, burst=1, adaptive=False)
        loop = asyncio.get_running_loop()
        await limiter.acquire()  # bucket now empty; next token at t=1
        doomed = asyncio.create_task(limiter.acquire())
        grants: list[float] = []

        async def later() -> None:
            await limiter.acquire()
            grants.append(loop.time())

        survivor = asyncio.create_task(later())
        await asyncio.sleep(0.5)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await survivor
        return grants, limiter.waiting

    grants, waiting = _vtime.run(scenario())
    assert grants == [1.0]  # the survivor got the token the cancelled waiter would have had
    assert waiting == 0


def test_token_granted_to_a_cancelled_task_is_returned() -> None:
    async def scenario() -> list[float]:
        limiter = TokenBucketLimiter(1.0, burst=1, adaptive=False)
        loop = asyncio.get_running_loop()
        await limiter.acquire()
        first = asyncio.create_task(limiter.acquire())
        grants: list[float] = []

        async def second() -> None:
            await limiter.acquire()
            grants.append(loop.time())

        other = asyncio.create_task(second())
        await asyncio.sleep(0.999999)
        # At t=1 the timer grants `first`; cancel it in the same loop iteration,
        # before it can run: the token must pass to `other` without a second wait.
        loop.call_at(1.0, first.cancel)
        await asyncio.gather(first, other, return_exceptions=True)
        return grants

    assert _vtime.run(scenario()) == [pytest.approx(2.0)] or _vtime.run(scenario()) == [1.0]


def test_throttle_pauses_everyone_until_retry_after() -> None:
    async def scenario() -> list[float]:
        limiter = TokenBucketLimiter(None, adaptive=False)
        loop = asyncio.get_running_loop()
        await limiter.on_throttle(2.5, NO_HEADERS)
        times: list[float] = []

        async def worker() -> None:
            await limiter.acquire()
            times.append(loop.time())

        await asyncio.gather(*(worker() for _ in range(5)))
        return times

    assert _vtime.run(scenario()) == [2.5] * 5


def test_pause_is_capped() -> None:
    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=False, max_pause=10.0)
        await limiter.on_throttle(3600.0, NO_HEADERS)
        await limiter.acquire()
        return asyncio.get_running_loop().time()

    assert _vtime.run(scenario()) == 10.0


def test_exhausted_quota_header_pauses_until_reset() -> None:
    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=False)
        limiter.on_success({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.25"})
        await limiter.acquire()
        return asyncio.get_running_loop().time()

    assert _vtime.run(scenario()) == 0.25


def test_quota_headers_with_remaining_capacity_do_not_pause() -> None:
    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=False)
        limiter.on_success({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "5"})
        await limiter.acquire()
        return asyncio.get_running_loop().time()

    assert _vtime.run(scenario()) == 0.0


def test_adaptive_starts_unlimited_cuts_on_throttle_and_regrows() -> None:
    """CUBIC: cut to BETA * w_max, back to w_max after K seconds, then probe above."""

    async def scenario() -> dict[str, float | None]:
        limiter = TokenBucketLimiter(None, adaptive=True)
        loop = asyncio.get_running_loop()
        seen: dict[str, float | None] = {"before": limiter.rate}
        for _ in range(300):  # send 100/s for 3 s, measured through responses
            await asyncio.sleep(0.01)
            limiter.on_success(NO_HEADERS)
        await limiter.on_throttle(None, NO_HEADERS)  # leaves unlimited: slow start
        assert limiter.rate == pytest.approx(100 * CUBIC_BETA, rel=0.1)
        for _ in range(100):  # slow start: +1/s per accepted response
            await limiter.acquire()
            limiter.on_success(NO_HEADERS)
        assert limiter.rate is not None and limiter.rate > 100 * CUBIC_BETA + 90
        for _ in range(100):  # back at ~100/s for a while, then throttled again
            await asyncio.sleep(0.01)
            limiter.on_success(NO_HEADERS)
        await asyncio.sleep(1.0)
        for _ in range(300):  # long enough for the smoothed rate to settle at 100/s
            await asyncio.sleep(0.01)
            limiter.on_success(NO_HEADERS)
        await limiter.on_throttle(None, NO_HEADERS)
        cut_at = loop.time()
        seen["cut"] = limiter.rate
        k = (100 * (1 - CUBIC_BETA) / CUBIC_SCALE) ** (1 / 3)

        async def run_until(t: float) -> float | None:
            while loop.time() < t:
                await limiter.acquire()
                limiter.on_success(NO_HEADERS)
            return limiter.rate

        seen["half_k"] = await run_until(cut_at + k / 2)
        seen["k"] = await run_until(cut_at + k)
        seen["k_plus_3"] = await run_until(cut_at + k + 3)
        return seen

    seen = _vtime.run(scenario())
    assert seen["before"] is None
    cut, half_k, at_k, later = seen["cut"], seen["half_k"], seen["k"], seen["k_plus_3"]
    assert cut is not None and half_k is not None and at_k is not None and later is not None
    assert cut == pytest.approx(100 * CUBIC_BETA, rel=0.1)
    assert cut < half_k < at_k
    assert at_k == pytest.approx(100, rel=0.1)  # back at the rate that was throttled
    assert later > at_k  # then probes above it


def test_configured_rate_is_a_ceiling_for_adaptive() -> None:
    async def scenario() -> float | None:
        limiter = TokenBucketLimiter(20.0, adaptive=True)
        for _ in range(400):
            await limiter.acquire()
            limiter.on_success(NO_HEADERS)
        await limiter.on_throttle(None, NO_HEADERS)
        for _ in range(2000):
            await limiter.acquire()
            limiter.on_success(NO_HEADERS)
        return limiter.rate

    rate = _vtime.run(scenario())
    assert rate is not None and rate <= 20.0


def test_repr_shows_live_state() -> None:
    text = repr(TokenBucketLimiter(5.0, burst=2))
    assert "rate=5.00/s" in text and "burst=2" in text and "waiting=0" in text


def test_first_request_probes_alone_until_its_response() -> None:
    """With no rate known, one request goes first and its headers pace the rest."""

    async def scenario() -> tuple[list[float], float | None]:
        limiter = TokenBucketLimiter(None, adaptive=True)
        loop = asyncio.get_running_loop()
        await limiter.acquire()  # the probe
        times: list[float] = []

        async def worker() -> None:
            await limiter.acquire()
            times.append(loop.time())

        others = [asyncio.create_task(worker()) for _ in range(3)]
        await asyncio.sleep(0.2)
        assert times == []  # held back while the probe is out
        limiter.on_success({"RateLimit-Policy": "10;w=1"})
        await asyncio.gather(*others)
        return times, limiter.rate

    times, rate = _vtime.run(scenario())
    assert rate == 10.0
    assert times == pytest.approx([0.2, 0.3, 0.4])  # paced at the stated 10/s


def test_a_probe_without_response_holds_no_one_for_long() -> None:
    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=True)
        await limiter.acquire()  # the probe, whose request then fails silently
        await limiter.acquire()
        return asyncio.get_running_loop().time()

    assert _vtime.run(scenario()) == PROBE_TIMEOUT


def test_a_stated_limit_never_raises_the_configured_rate() -> None:
    async def scenario() -> float | None:
        limiter = TokenBucketLimiter(200.0, adaptive=True)
        await limiter.acquire()
        limiter.on_success({"RateLimit-Policy": "500;w=1"})
        return limiter.rate

    assert _vtime.run(scenario()) == 200.0


@pytest.mark.parametrize(
    ("policy", "rate"),
    [
        ("100;w=60", 100 / 60),
        ('"default";q=50;w=10', 5.0),
        ("7", 7.0),
        ("0;w=1", None),
        ("x;w=1", None),
        ("10;w=0", None),
    ],
)
def test_parse_policy(policy: str, rate: float | None) -> None:
    assert parse_policy(policy) == (pytest.approx(rate) if rate is not None else None)


def test_late_timers_do_not_lower_the_long_run_rate() -> None:
    """Every wake-up 3 ms late at 100/s: the rate stays 100/s, bursts stay <= burst + 1."""

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        real_call_at = loop.call_at
        loop.call_at = lambda when, cb, *a, **k: real_call_at(when + 0.003, cb, *a, **k)  # type: ignore[method-assign]
        limiter = TokenBucketLimiter(100.0, burst=1, adaptive=False)
        grants: list[float] = []

        async def worker() -> None:
            for _ in range(50):
                await limiter.acquire()
                grants.append(loop.time())

        await asyncio.gather(*(worker() for _ in range(4)))
        return grants

    grants = _vtime.run(scenario())
    assert (len(grants) - 1) / (grants[-1] - grants[0]) == pytest.approx(100, rel=0.02)
    start = grants[0]
    for i, t in enumerate(grants):
        assert i + 1 <= 1 + 1 + 100 * (t - start) + 1e-6


def test_rate_meter_matches_botocore_bucket_arithmetic() -> None:
    """The meter's shortcut for events inside the current bucket changes no result."""
    rng = random.Random(7)
    meter = _RateMeter()
    smoothed, count, last_bucket = 0.0, 0, -math.inf
    now = 1000.0
    for _ in range(5000):
        now += rng.choice([0.0, 0.0001, 0.01, 0.2, 0.5, 1.7])
        meter.record(now)
        # botocore's RateClocker: count first, then close the bucket if time moved on
        count += 1
        bucket = math.floor(now / RATE_BUCKET_SECONDS) * RATE_BUCKET_SECONDS
        if bucket > last_bucket:
            if last_bucket > -math.inf:
                current = count / (bucket - last_bucket)
                smoothed = current * RATE_SMOOTHING + smoothed * (1 - RATE_SMOOTHING)
            count, last_bucket = 0, bucket
        assert meter.smoothed == smoothed
