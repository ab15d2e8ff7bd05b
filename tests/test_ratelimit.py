"""The local token bucket's mechanics: rate bound, FIFO, cancel safety, pauses, probe.

All on a virtual clock (tests/_vtime.py): waits are exact and nothing sleeps. The
throttling rules themselves (who waits, cuts, undo, floor) are in test_throttling.py.
"""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from asyncsdk import RateLimiter, TokenBucketLimiter
from asyncsdk.ratelimit._bucket import LATE_CREDIT, MAX_PROBES, PROBE_TIMEOUT, parse_policy

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


def test_a_sporadic_throttle_pauses_no_one() -> None:
    """One 429 among successes: only its own request waits (the retrier sees to it)."""

    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=False)
        for _ in range(20):
            await limiter.acquire()
            limiter.on_success(NO_HEADERS)
        await limiter.acquire()
        await limiter.on_throttle(2.5, NO_HEADERS)
        await limiter.acquire()
        assert limiter.pauses == 0
        return asyncio.get_running_loop().time()

    assert _vtime.run(scenario()) == 0.0


def test_correlated_throttling_pauses_everyone_until_retry_after() -> None:
    """Ten 429s in a row: every request waits the Retry-After."""

    async def scenario() -> list[float]:
        limiter = TokenBucketLimiter(None, adaptive=False)
        loop = asyncio.get_running_loop()
        for _ in range(10):
            await limiter.acquire()
            await limiter.on_throttle(2.5, NO_HEADERS)
        times: list[float] = []

        async def worker() -> None:
            await limiter.acquire()
            times.append(loop.time())

        await asyncio.gather(*(worker() for _ in range(5)))
        assert limiter.pauses == 1
        return times

    assert _vtime.run(scenario()) == [2.5] * 5


def test_a_stated_exhaustion_on_a_429_pauses_everyone_until_the_reset() -> None:
    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=False)
        await limiter.acquire()
        await limiter.on_throttle(1.0, {"RateLimit-Remaining": "0", "RateLimit-Reset": "4"})
        await limiter.acquire()
        return asyncio.get_running_loop().time()

    assert _vtime.run(scenario()) == 4.0


def test_pause_is_capped() -> None:
    async def scenario() -> float:
        limiter = TokenBucketLimiter(None, adaptive=False, max_pause=10.0)
        await limiter.on_throttle(
            3600.0, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9e9"}
        )
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


def test_configured_rate_is_a_ceiling_for_adaptive() -> None:
    async def scenario() -> float | None:
        limiter = TokenBucketLimiter(20.0, adaptive=True)
        for _ in range(400):
            await limiter.acquire()
            limiter.on_success({"RateLimit-Policy": "500;w=1"})
        for _ in range(2000):
            await limiter.acquire()
            limiter.on_success(NO_HEADERS)
        return limiter.rate

    assert _vtime.run(scenario()) == 20.0


def test_repr_shows_live_state() -> None:
    text = repr(TokenBucketLimiter(5.0, burst=2))
    assert "known rate=5.00/s" in text and "burst=2" in text and "waiting=0" in text
    assert "probe rate=unlimited" in repr(TokenBucketLimiter(None))
    assert "fixed rate=unlimited" in repr(TokenBucketLimiter(None, adaptive=False))


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
    """No answer within PROBE_TIMEOUT: the others start at the discovered rate's start."""

    async def scenario() -> tuple[float, str]:
        limiter = TokenBucketLimiter(None, adaptive=True)
        await limiter.acquire()  # the probe, whose request then hangs
        await limiter.acquire()
        return asyncio.get_running_loop().time(), limiter.phase

    assert _vtime.run(scenario()) == (PROBE_TIMEOUT, "cruise")


def test_a_failed_probe_is_replaced_by_one_more_probe_not_a_flood() -> None:
    """A probe reset or throttled releases one more request alone, not the queue."""

    async def scenario() -> list[int]:
        limiter = TokenBucketLimiter(None, adaptive=True)
        granted: list[int] = []

        async def worker(n: int) -> None:
            await limiter.acquire()
            granted.append(n)

        await limiter.acquire()  # the first probe
        others = [asyncio.create_task(worker(n)) for n in range(20)]
        await asyncio.sleep(0.01)
        counts = [len(granted)]
        limiter.on_failure()  # reset: no answer at all
        await asyncio.sleep(0.01)
        counts.append(len(granted))
        await limiter.on_throttle(None, NO_HEADERS)  # 429 without any header
        await asyncio.sleep(0.01)
        counts.append(len(granted))
        limiter.on_success(NO_HEADERS)  # an answer at last: startup, paced
        await asyncio.sleep(0.001)
        counts.append(len(granted))
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        return counts

    counts = _vtime.run(scenario())
    assert counts[:3] == [0, 1, 2]  # one at a time while probes fail
    assert counts[3] < 20  # paced from the first answer on, not released at once


def test_the_rate_starts_after_max_probes_failed_probes() -> None:
    async def scenario() -> str:
        limiter = TokenBucketLimiter(None, adaptive=True)
        for _ in range(MAX_PROBES):
            await limiter.acquire()
            limiter.on_failure()
        return limiter.phase

    assert _vtime.run(scenario()) == "cruise"


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


@pytest.mark.parametrize("workers", [1, 8])
def test_millisecond_timers_do_not_cap_a_fast_rate(workers: int) -> None:
    """Timers that fire on whole milliseconds (epoll) still deliver 5000/s with a bucket of one.

    Lateness was once credited at most one token, so each timer granted two requests and
    any rate above 1000/s delivered about 1500/s; a caller awaiting one request after
    another lost the credit to the bucket's cap and got the same.
    """

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        real_call_at = loop.call_at
        loop.call_at = lambda when, cb, *a, **k: real_call_at(  # type: ignore[method-assign]
            math.ceil(when * 1000 - 1e-6) / 1000, cb, *a, **k
        )
        limiter = TokenBucketLimiter(5000.0, burst=1, adaptive=False)
        grants: list[float] = []

        async def worker() -> None:
            for _ in range(4000 // workers):
                await limiter.acquire()
                grants.append(loop.time())
                limiter.on_success({})
                await asyncio.sleep(0)

        await asyncio.gather(*(worker() for _ in range(workers)))
        return grants

    grants = _vtime.run(scenario())
    rate = (len(grants) - 1) / (grants[-1] - grants[0])
    assert 0.95 * 5000 <= rate <= 1.01 * 5000
    start = grants[0]
    for i, t in enumerate(grants):  # never ahead of the rate by more than the credit
        assert i + 1 <= 1 + 5000 * LATE_CREDIT + 5000 * (t - start) + 1e-6


def test_a_pause_ends_with_one_request_not_a_catch_up_pair() -> None:
    """After a pause a bucket of one sends one request, then paces: no 1 ms pairs.

    A catch-up credit once earned during every pause sent two requests back to back at
    its end; a server bucket of one refused the second, and the pause repeated.
    """

    async def scenario() -> list[float]:
        limiter = TokenBucketLimiter(50.0, burst=1, adaptive=False)
        loop = asyncio.get_running_loop()
        grants: list[float] = []

        async def worker() -> None:
            for _ in range(10):
                await limiter.acquire()
                grants.append(loop.time())

        tasks = [asyncio.create_task(worker()) for _ in range(4)]
        await asyncio.sleep(0.1)
        await limiter.on_throttle(1.0, {"RateLimit": '"default";r=0;t=1'})
        await asyncio.gather(*tasks)
        return grants

    grants = _vtime.run(scenario())
    after = [t for t in grants if t >= 1.1]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert after[0] == pytest.approx(1.1)
    assert min(gaps) == pytest.approx(1 / 50)


def test_expected_wait_counts_the_pause_and_the_queue() -> None:
    async def scenario() -> tuple[float, float, float]:
        limiter = TokenBucketLimiter(10.0, burst=1, adaptive=False)
        idle = limiter.expected_wait()
        await limiter.acquire()
        waiters = [asyncio.create_task(limiter.acquire()) for _ in range(4)]
        await asyncio.sleep(0)
        queued = limiter.expected_wait()
        limiter.on_success({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"})
        paused = limiter.expected_wait()
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        return idle, queued, paused

    idle, queued, paused = _vtime.run(scenario())
    assert idle == 0.0
    assert queued == pytest.approx(0.5)  # 4 ahead + this one, at 10/s, one token due
    assert paused == pytest.approx(3.0 + 0.5, abs=0.11)


def test_a_late_timer_at_the_end_of_a_pause_earns_no_catch_up_token() -> None:
    """Timers 40 ms late: the grant that ends a pause is one request, not a pair."""

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        real_call_at = loop.call_at
        loop.call_at = lambda when, cb, *a, **k: real_call_at(when + 0.04, cb, *a, **k)  # type: ignore[method-assign]
        limiter = TokenBucketLimiter(50.0, burst=1, adaptive=False)
        grants: list[float] = []

        async def worker() -> None:
            for _ in range(5):
                await limiter.acquire()
                grants.append(loop.time())

        await limiter.acquire()
        limiter.on_success({"RateLimit-Remaining": "0", "RateLimit-Reset": "0.2"})
        await asyncio.gather(*(worker() for _ in range(3)))
        return grants

    grants = _vtime.run(scenario())
    assert grants[1] - grants[0] >= 1 / 50 - 1e-9  # the pause ends with one request


def test_requests_a_caller_gave_up_on_are_not_an_outage() -> None:
    async def scenario() -> int:
        limiter = TokenBucketLimiter(None, adaptive=False)
        for _ in range(30):
            await limiter.acquire()
            limiter.on_failure(server=False)  # cancelled by the caller
        return limiter.pauses

    assert _vtime.run(scenario()) == 0


def test_in_an_outage_one_request_at_a_time_probes_until_one_is_answered() -> None:
    async def scenario() -> tuple[list[float], int]:
        limiter = TokenBucketLimiter(100.0, adaptive=False)
        loop = asyncio.get_running_loop()
        for _ in range(12):  # every attempt fails: the server is down
            await limiter.acquire()
            limiter.on_failure()
        assert limiter.pauses == 1
        grants: list[float] = []

        async def worker() -> None:
            await limiter.acquire()
            grants.append(loop.time())

        tasks = [asyncio.create_task(worker()) for _ in range(10)]
        await asyncio.sleep(1.05)
        probes = len(grants)  # one probe after the pause
        limiter.on_failure()  # the probe failed too: another wait
        await asyncio.sleep(0.9)
        assert len(grants) == probes
        await asyncio.sleep(0.2)
        assert len(grants) == probes + 1  # the next probe
        limiter.on_success(NO_HEADERS)  # answered: everyone goes, paced
        await asyncio.gather(*tasks)
        return grants, probes

    grants, probes = _vtime.run(scenario())
    assert probes == 1
    assert len(grants) == 10
