"""A call's deadline against its limiter's bound: which error says which ran out.

A retry's sleep may end after the call's deadline on a busy event loop, before the
deadline's own timer fires. The next attempt then reaches the limiter with no time
left: that is the call running out of time (`APITimeoutError`), not the limiter
shedding the attempt (`LimiterTimeoutError`, which says "the limiter expects a wait of
0s, more than the 0s allowed").
"""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from asyncsdk import APIConnectionError, APITimeoutError, LimiterTimeoutError, RetryPolicy
from asyncsdk._deadline import Queued, acquire_bounded, run_with_deadline
from asyncsdk.ratelimit import TokenBucketLimiter
from asyncsdk.ratelimit._workspaces import Lane
from asyncsdk.retry import Retrier, RetryBudget
from asyncsdk.stats import Counters

URL_ = URL("http://127.0.0.1:1/workspaces/w/channels/c/calls/x")


async def test_a_deadline_already_passed_at_the_limiter_is_no_shed() -> None:
    counters = Counters()
    lane = Lane("", TokenBucketLimiter(1000.0))
    past = asyncio.get_running_loop().time() - 0.001
    with pytest.raises(TimeoutError) as caught:
        await acquire_bounded(lane, counters, URL_, None, past)
    assert not isinstance(caught.value, LimiterTimeoutError)
    assert counters.limiter_timeouts == 0  # nothing was shed


async def test_the_call_then_fails_as_out_of_time_with_its_attempts() -> None:
    counters = Counters()
    lane = Lane("", TokenBucketLimiter(1000.0))
    retrier = Retrier(RetryPolicy(max_retries=3, initial_backoff=0.001), RetryBudget(100))
    tries = 0

    async def attempt(deadline: float, queued: Queued) -> str:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise APIConnectionError("reset", method="GET", url=str(URL_))
        # the retry's sleep ended late: the deadline is behind this attempt already
        await acquire_bounded(lane, counters, URL_, None, deadline - 10.0, queued)
        return "sent"

    with pytest.raises(APITimeoutError, match="deadline of 5s for the call exceeded") as caught:
        await run_with_deadline(attempt, retrier, counters, URL_, 5, None)
    assert not isinstance(caught.value, LimiterTimeoutError)
    assert caught.value.attempts == 2
    assert counters.limiter_timeouts == 0
