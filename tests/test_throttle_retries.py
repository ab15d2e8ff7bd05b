"""Throttled answers and ``max_retries``, end to end against the embedded server.

Bird documents a 429 as "not processed, can be retried": a call is not failed for a
number of 429s while the server keeps saying "later"; time bounds them instead
(``RetryPolicy.max_throttle_wait``, ``Timeout.deadline``).
"""

from __future__ import annotations

import dataclasses

import pytest

from asyncsdk import (
    APITimeoutError,
    Call,
    Client,
    LimiterTimeoutError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Timeout,
)
from asyncsdk.server import EmbeddedServer, ScriptedResponse

from ._support import ACCESS_KEY

# The three plausible throttling answers: a wait in seconds, none, an HTTP date in the past.
THROTTLES = {
    "retry-after-0": ScriptedResponse(status=429, body=b"{}", headers={"Retry-After": "0"}),
    "no-retry-after": ScriptedResponse(status=429, body=b"{}"),
    "http-date": ScriptedResponse(
        status=429, body=b"{}", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    ),
    "503-retry-after": ScriptedResponse(status=503, body=b"{}", headers={"Retry-After": "0"}),
}
QUICK = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02, budget=0)


@pytest.mark.parametrize("kind", sorted(THROTTLES))
async def test_more_429s_than_max_retries_still_end_as_the_call(
    server: EmbeddedServer, kind: str
) -> None:
    ds = server.dataset
    call_id = ds.call_ids[0]
    server.script(call_id, *(THROTTLES[kind],) * 6)  # three times max_retries
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url, retry_policy=QUICK) as c:
        call = await c.get_call(ds.workspace_id, ds.channel_id, call_id)
        assert isinstance(call, Call) and call.id == call_id
        assert c.stats.throttled == 6 and c.stats.retries == 6
    assert sum(r.call_id == str(call_id) for r in server.requests) == 7


async def test_other_failures_still_use_up_max_retries(server: EmbeddedServer) -> None:
    ds = server.dataset
    call_id = ds.call_ids[1]
    error = ScriptedResponse(status=500, body=b"{}")
    server.script(call_id, THROTTLES["retry-after-0"], error, error, error)
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url, retry_policy=QUICK) as c:
        with pytest.raises(ServerError) as info:
            await c.get_call(ds.workspace_id, ds.channel_id, call_id)
    assert info.value.status == 500 and info.value.attempts == 4


# About 20 attempts fit in 0.3 s; a loaded machine that stalled the test for most of
# it left 3 or fewer, so the bound is 1 s.
@pytest.mark.parametrize(
    ("policy", "limits"),
    [
        (dataclasses.replace(QUICK, max_throttle_wait=1.0), Timeout()),
        (QUICK, Timeout(deadline=1.0)),
    ],
    ids=["max_throttle_wait", "deadline"],
)
async def test_throttling_without_end_ends_the_call_in_bounded_time(
    server: EmbeddedServer, policy: RetryPolicy, limits: Timeout
) -> None:
    ds = server.dataset
    call_id = ds.call_ids[2]
    server.script(call_id, *(THROTTLES["retry-after-0"],) * 10_000)
    async with Client(
        access_key=ACCESS_KEY,
        base_url=server.base_url,
        retry_policy=policy,
        timeout=limits,
        rate_limit=RateLimit(rate=200.0, adaptive=False),  # no cut may outlast the bound
    ) as c:
        # The deadline strikes between attempts (the last 429 is raised), during one, or
        # in the limiter's queue: each a typed error that counts the attempts.
        with pytest.raises((RateLimitError, APITimeoutError, LimiterTimeoutError)) as info:
            await c.get_call(ds.workspace_id, ds.channel_id, call_id)
    if limits.deadline is None:
        assert isinstance(info.value, RateLimitError) and info.value.status == 429
    assert info.value.attempts is not None and info.value.attempts > 1 + QUICK.max_retries
