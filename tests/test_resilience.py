"""Retries, throttling and cancellation against the embedded server with faults on."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from asyncsdk import (
    APIConnectionError,
    AuthenticationError,
    BirdError,
    Call,
    Client,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Timeout,
    TokenBucketLimiter,
    UnprocessableEntityError,
)
from asyncsdk.server import Dataset, EmbeddedServer, Faults, ScriptedResponse, ServerConfig

from ._support import ACCESS_KEY, fixture_bytes, wait_until

# budget=0: this file's storm test covers the budget; here every call may use its retries.
FAST_RETRIES = RetryPolicy(max_retries=3, initial_backoff=0.01, max_backoff=0.05, budget=0)


def faulty(**faults: float) -> ServerConfig:
    return ServerConfig(
        access_keys=(ACCESS_KEY,),
        faults=Faults(slow_seconds=5.0, **faults),  # type: ignore[arg-type]
        seed=1234,
    )


@pytest.fixture
async def chaos() -> AsyncIterator[EmbeddedServer]:
    config = faulty(
        error_500=0.05, error_502_html=0.05, error_503=0.05, reset=0.05, truncate=0.05, slow=0.02
    )
    async with EmbeddedServer(config, dataset=Dataset(size=400, seed=3)) as server:
        yield server


async def test_every_call_ends_in_a_call_or_a_typed_error_within_its_attempts(
    chaos: EmbeddedServer,
) -> None:
    ds = chaos.dataset
    call_ids = [*ds.call_ids[:400], *(ds.missing_call_id(i) for i in range(20))]
    async with Client(
        access_key=ACCESS_KEY,
        base_url=chaos.base_url,
        retry_policy=FAST_RETRIES,
        timeout=Timeout(connect=2, read=0.5, total=1.0),
    ) as client:
        outcomes = await asyncio.gather(
            *(client.get_call(ds.workspace_id, ds.channel_id, c) for c in call_ids),
            return_exceptions=True,
        )
        stats = client.stats
    assert len(outcomes) == len(call_ids)
    for call_id, outcome in zip(call_ids, outcomes, strict=True):
        assert isinstance(outcome, (Call, BirdError)), outcome
        if isinstance(outcome, Call):
            assert outcome.id == call_id
    missing = outcomes[400:]
    # Faults are drawn before the lookup, so a missing ID can still end in a
    # transient error after its retries; most end in the 404.
    assert all(isinstance(o, (NotFoundError, ServerError, APIConnectionError)) for o in missing)
    assert sum(isinstance(o, NotFoundError) for o in missing) >= 15
    successes = sum(isinstance(o, Call) for o in outcomes[:400])
    assert successes >= 390  # 4 attempts against ~27% faults; the rest are typed errors
    per_call = Counter(r.call_id for r in chaos.requests)
    assert max(per_call.values()) <= 1 + FAST_RETRIES.max_retries
    # Every attempt that got an answer reached the server; one cut off by a timeout or a
    # failed connection may not have (on a busy loop, a request can wait unread).
    cut_off = stats.retries_by_reason.get("timeout", 0) + stats.retries_by_reason.get(
        "connection", 0
    )
    cut_off += sum(isinstance(o, APIConnectionError) for o in outcomes)
    assert stats.retries > 0
    assert stats.attempts - cut_off <= len(chaos.requests) <= stats.attempts
    assert sum(stats.retries_by_reason.values()) == stats.retries


@pytest.mark.parametrize(
    ("scripted", "error"),
    [
        (ScriptedResponse(status=404, body=fixture_bytes("error_404.json")), NotFoundError),
        (
            ScriptedResponse(status=422, body=fixture_bytes("error_422.json")),
            UnprocessableEntityError,
        ),
        (ScriptedResponse(status=401, body=b"{}"), AuthenticationError),
    ],
)
async def test_client_errors_are_not_retried(
    server: EmbeddedServer, scripted: ScriptedResponse, error: type[Exception]
) -> None:
    ds = server.dataset
    call_id = ds.call_ids[5]
    server.script(call_id, scripted, scripted, scripted)
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        with pytest.raises(error):
            await client.get_call(ds.workspace_id, ds.channel_id, call_id)
    assert len(server.requests) == 1


async def test_a_sporadic_429_delays_only_its_own_request(server: EmbeddedServer) -> None:
    """Its retry waits the Retry-After; the other calls go on meanwhile."""
    ds = server.dataset
    throttled_id = ds.call_ids[0]
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        await client.get_call(ds.workspace_id, ds.channel_id, ds.call_ids[10])  # the probe
        server.script(
            throttled_id,
            ScriptedResponse(status=429, body=b"{}", headers={"Retry-After": "1"}),
        )
        server.requests.clear()
        first = asyncio.create_task(client.get_call(ds.workspace_id, ds.channel_id, throttled_id))
        await wait_until(lambda: bool(server.requests), what="the first request arrives")
        others = await asyncio.gather(
            *(client.get_call(ds.workspace_id, ds.channel_id, c) for c in ds.call_ids[1:6])
        )
        assert isinstance(await first, Call)
        assert len(others) == 5
        limiter = client.limiter
    reqs = server.requests
    throttled_at = reqs[0].time
    [retry] = [r for r in reqs[1:] if r.call_id == str(throttled_id)]
    assert retry.time - throttled_at >= 1 - 0.01
    # The others went on meanwhile: the 429 paused no one (a client paused by it would
    # have held them a second). Judged from the limiter, not from when the others
    # arrived: a loaded machine can take a second to send five calls.
    others_at = [r.time for r in reqs[1:] if r.call_id != str(throttled_id)]
    assert len(others_at) == 5
    assert isinstance(limiter, TokenBucketLimiter) and limiter.pauses == 0
    assert client.stats.throttled == 1


async def test_an_exhausted_quota_pauses_every_request_until_its_reset(
    server: EmbeddedServer,
) -> None:
    ds = server.dataset
    exhausted = {"Retry-After": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.3"}
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=0) as client:
        await client.get_call(ds.workspace_id, ds.channel_id, ds.call_ids[10])  # the probe
        server.script(ds.call_ids[0], ScriptedResponse(status=429, body=b"{}", headers=exhausted))
        server.requests.clear()
        with pytest.raises(RateLimitError):
            await client.get_call(ds.workspace_id, ds.channel_id, ds.call_ids[0])
        await asyncio.gather(
            *(client.get_call(ds.workspace_id, ds.channel_id, c) for c in ds.call_ids[1:6])
        )
    reqs = server.requests
    assert all(r.time - reqs[0].time >= 0.3 - 0.01 for r in reqs[1:])


async def test_retry_after_beyond_the_cap_raises_with_the_value(server: EmbeddedServer) -> None:
    ds = server.dataset
    server.script(
        ds.call_ids[0], ScriptedResponse(status=429, body=b"{}", headers={"Retry-After": "3600"})
    )
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        with pytest.raises(RateLimitError) as info:
            await client.get_call(ds.workspace_id, ds.channel_id, ds.call_ids[0])
    assert info.value.retry_after == 3600.0 and info.value.attempts == 1
    assert len(server.requests) == 1


async def test_retry_budget_stops_a_storm_during_an_outage() -> None:
    # In an outage one request probes at a time, each after the limiter's outage pause:
    # max_retry_after also caps that pause (1 s by default), so the probes follow each
    # other at once instead of a second apart; the budget still binds over 40 calls.
    policy = RetryPolicy(
        max_retries=3, initial_backoff=0.001, max_backoff=0.002, budget=50, max_retry_after=0.01
    )
    async with EmbeddedServer(faulty(error_503=1.0), dataset=Dataset(size=40)) as server:
        ds = server.dataset
        async with Client(
            access_key=ACCESS_KEY, base_url=server.base_url, retry_policy=policy
        ) as client:
            outcomes = await asyncio.gather(
                *(client.get_call(ds.workspace_id, ds.channel_id, c) for c in ds.call_ids),
                return_exceptions=True,
            )
    assert all(isinstance(o, ServerError) for o in outcomes)
    # Without a budget: 40 calls x 4 attempts = 160. With it, retries stop once half the
    # 50 tokens are gone: at most 25 retries, whatever order the failures come in.
    retries = client.stats.retries
    assert 0 < retries <= 25
    assert len(server.requests) == 40 + retries


async def test_the_retry_budget_keeps_retrying_through_a_brownout() -> None:
    """A third of attempts failing (429s, 5xx, resets): the default budget never stops
    the retries, and nearly every call ends as a call, as a per-call loop would."""
    faults = Faults(throttle=0.10, error_500=0.06, error_503=0.06, reset=0.06, truncate=0.05)
    config = ServerConfig(access_keys=(ACCESS_KEY,), faults=faults, seed=11, record_requests=False)
    # A third of attempts fail: 5 attempts all fail for 0.4 % of calls, 2.4 of 600 on
    # average, and which calls draw the seeded faults depends on the scheduling, so more
    # than 6 would come in about 1 % of runs; 7 attempts all fail for 0.04 %.
    policy = RetryPolicy(max_retries=6, initial_backoff=0.005, max_backoff=0.02)
    async with (
        EmbeddedServer(config, dataset=Dataset(size=600)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, retry_policy=policy) as client,
    ):
        ds = server.dataset
        outcomes = await asyncio.gather(
            *(client.get_call(ds.workspace_id, ds.channel_id, c) for c in ds.call_ids),
            return_exceptions=True,
        )
        budget = client._engine._retrier.budget
    assert sum(isinstance(o, Call) for o in outcomes) >= 0.99 * len(outcomes)
    assert budget.allows_retry
    assert client.stats.retries > 150


async def test_cancelled_call_releases_its_limiter_place_and_connection(
    server: EmbeddedServer,
) -> None:
    ds = server.dataset
    server.script(ds.call_ids[0], ScriptedResponse(action="slow", delay=30))
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url, rate_limit=1000) as client:
        task = asyncio.create_task(client.get_call(ds.workspace_id, ds.channel_id, ds.call_ids[0]))
        await wait_until(lambda: bool(server.requests), what="the request arrives")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        session = client._engine.session
        assert session is not None and session.connector is not None
        assert len(session.connector._acquired) == 0  # connection released
        assert client.limiter.waiting == 0  # type: ignore[attr-defined]
        # and the client is healthy afterwards
        assert isinstance(
            await client.get_call(ds.workspace_id, ds.channel_id, ds.call_ids[1]), Call
        )
