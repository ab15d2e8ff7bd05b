"""RedisRateLimiter against a real redis-server: shared limit, pauses, outages, cancellation.

The multi-process tests run worker processes (``tests/_redis_worker.py``) against the
embedded Bird API server in this process; nothing here mocks Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("redis")

import redis.asyncio as aioredis

from asyncsdk import Client, ClientClosedError, ConfigurationError, RateLimiter, iter_calls
from asyncsdk.ratelimit.fleet import (
    KEY_PREFIX,
    LimiterMode,
    RedisRateLimiter,
    derive_key,
)
from asyncsdk.server import Dataset, EmbeddedServer, ScriptedResponse, ServerConfig

from ._redis import RedisServer, redis_executable, run_redis, run_workers
from ._redis_worker import RedisReplies
from ._support import wait_until

#: A gap between grants longer than this means the workers were not running.
STALL = 0.1
ACCESS_KEY = "fleet-test-key"  # the workers' credential (tests/_redis_worker.py)
#: Redis timeout (seconds) of the tests that keep Redis up: a busy machine can delay an
#: answer past the default 0.25 s, which is an outage by design, and not the test's point.
STEADY = 10.0


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the tests that do not stop it."""
    yield from run_redis()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may kill and restart."""
    yield from run_redis()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def asyncsdk_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "asyncsdk" and r.levelno == logging.WARNING]


# --- construction -------------------------------------------------------------------------


async def test_default_key_is_a_hash_of_the_credential_never_the_credential() -> None:
    secret = "sk-live-do-not-leak"
    limiter = RedisRateLimiter("redis://127.0.0.1:1", rate=10, credential=secret)
    try:
        assert isinstance(limiter, RateLimiter)
        assert limiter.key == KEY_PREFIX + derive_key(secret)
        assert secret not in limiter.key
        assert secret not in repr(limiter)
        assert "rate=10/s" in repr(limiter)
        assert "mode=redis" in repr(limiter)
        assert derive_key(secret) == derive_key(secret) != derive_key(secret + "x")
    finally:
        await limiter.aclose()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 10}, "key="),
        ({"rate": 0, "key": "k"}, "rate"),
        ({"rate": 10, "burst": 0, "key": "k"}, "burst"),
        ({"rate": 10, "fallback_share": 0, "key": "k"}, "fallback_share"),
        ({"rate": 10, "timeout": -1, "key": "k"}, "timeout"),
    ],
)
def test_bad_settings_say_what_to_pass(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisRateLimiter("redis://127.0.0.1:1", **kwargs)  # type: ignore[arg-type]


# --- one process --------------------------------------------------------------------------


async def test_grants_follow_rate_and_burst(redis_server: RedisServer) -> None:
    """A burst goes at once; the rest is paced at the rate."""
    limiter = RedisReplies(redis_server.url, rate=5, burst=5, key="pace", timeout=STEADY)
    try:
        start = time.perf_counter()
        times: list[float] = []

        async def one() -> None:
            await limiter.acquire()
            times.append(time.perf_counter() - start)

        await asyncio.gather(*(one() for _ in range(10)))
        times.sort()
        # The burst: Redis's first answer grants five slots at once (pacing alone would
        # reserve one, 200 ms ahead). What Redis decided, not when this process woke up
        # to use it: a loaded machine can hold the waiters longer than pacing would.
        assert limiter.replies[0][2:] == (5, 0)
        assert sum(granted for _, _, granted, _ in limiter.replies) == 10
        assert times[-1] > 0.9  # 5 more at 5/s: 1 s, never sooner
    finally:
        await limiter.aclose()


async def test_cancelled_acquire_takes_no_capacity(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """A waiter cancelled while its slot is reserved hands the slot back to Redis."""
    limiter = RedisRateLimiter(redis_server.url, rate=10, key="cancel", timeout=STEADY)
    try:
        await limiter.acquire()
        before = await redis_client.hget(limiter.key, "tat")
        waiter = asyncio.create_task(limiter.acquire())

        async def tat_moved() -> bool:
            return await redis_client.hget(limiter.key, "tat") != before

        await wait_until(tat_moved, what="the waiter reserves the next slot, 100 ms ahead")
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

        async def tat_back() -> bool:
            return await redis_client.hget(limiter.key, "tat") == before

        # The reservation comes due with nobody waiting, and is handed back.
        await wait_until(tat_back, what="the slot is handed back to Redis")
        assert limiter.waiting == 0
    finally:
        await limiter.aclose()


EXHAUSTED = {"RateLimit-Remaining": "0", "RateLimit-Reset": "0.6"}


async def test_pause_written_by_one_worker_holds_another(redis_server: RedisServer) -> None:
    """A stated exhaustion is written (Redis time) where every worker's grant checks it."""
    first = RedisRateLimiter(redis_server.url, rate=100, key="pause", timeout=STEADY)
    # another pool
    second = RedisRateLimiter(redis_server.url, rate=100, key="pause", timeout=STEADY)
    try:
        await second.acquire()
        start = time.perf_counter()  # before the pause is written: it ends 0.6 s later
        await first.on_throttle(0.6, EXHAUSTED)
        await second.acquire()
        assert time.perf_counter() - start > 0.5
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_sporadic_429_seen_by_one_worker_does_not_pause_the_fleet(
    redis_server: RedisServer,
) -> None:
    first = RedisReplies(redis_server.url, rate=1000, key="sporadic", timeout=STEADY)
    second = RedisReplies(redis_server.url, rate=1000, key="sporadic", timeout=STEADY)
    try:
        for _ in range(30):
            await first.acquire()
            first.on_success({})
        await first.on_throttle(5.0, {})  # one 429 among answers: sporadic
        first.replies.clear()
        for _ in range(5):
            await second.acquire()
            await first.acquire()
        # A pause would hold them 5 s: Redis would answer "paused" (nothing granted).
        # Its answers, not the time the loop took, which a loaded machine stretches.
        replies = first.replies + second.replies
        assert replies and all(granted > 0 for _, _, granted, _ in replies), replies
    finally:
        await first.aclose()
        await second.aclose()


async def test_correlated_throttling_seen_by_one_worker_pauses_the_fleet(
    redis_server: RedisServer,
) -> None:
    first = RedisRateLimiter(redis_server.url, rate=1000, key="correlated", timeout=STEADY)
    second = RedisRateLimiter(redis_server.url, rate=1000, key="correlated", timeout=STEADY)
    try:
        for _ in range(10):  # ten 429s in a row: the quota is gone
            await first.acquire()
            start = time.perf_counter()  # the pause, if any, ends 0.6 s after this
            await first.on_throttle(0.6, {})
        await second.acquire()
        assert time.perf_counter() - start > 0.5
    finally:
        await first.aclose()
        await second.aclose()


async def test_flushed_script_is_reloaded_without_an_outage(
    redis_server: RedisServer, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisRateLimiter(redis_server.url, rate=1000, key="flush", timeout=STEADY)
    try:
        await limiter.acquire()
        loads = limiter.script_loads
        await redis_client.script_flush()
        await limiter.acquire()
        assert limiter.script_loads == loads + 1
        assert limiter.outages == 0
        assert limiter.mode is LimiterMode.REDIS
        assert not asyncsdk_warnings(caplog)
    finally:
        await limiter.aclose()


async def test_slow_redis_falls_back_then_returns(
    redis_server: RedisServer, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis slower than the timeout counts as an outage: one warning, then back."""
    limiter = RedisRateLimiter(
        redis_server.url, rate=100, key="slow", timeout=0.1, probe_interval=0.2
    )
    try:
        await limiter.acquire()
        # Redis holds the limiter's script (a write) until this test lets it go: however
        # long a loaded machine takes over the five grants, Redis is still slow for them.
        # (Not ALL: that would hold the UNPAUSE below too.)
        await redis_client.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
        try:
            for _ in range(5):
                await limiter.acquire()  # served by the fallback meanwhile
            assert limiter.mode is LimiterMode.FALLBACK
        finally:
            await redis_client.execute_command("CLIENT", "UNPAUSE")

        async def back_on_redis() -> bool:
            await limiter.acquire()
            return limiter.mode is LimiterMode.REDIS

        await wait_until(back_on_redis, what="a probe finds Redis again")
        # One warning per outage; on a busy machine an answer slower than the 0.1 s
        # timeout after Redis came back is another outage, rightly.
        assert limiter.outages >= 1
        assert len(asyncsdk_warnings(caplog)) == limiter.outages
    finally:
        await limiter.aclose()


async def test_redis_killed_and_restarted_mid_run(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The run finishes, every ID has one outcome, one warning, and Redis is used again."""
    dataset = Dataset(600)
    limiter = RedisRateLimiter(
        own_redis.url,
        rate=200,
        burst=5,
        key="restart",
        fallback_share=0.5,
        timeout=0.1,
        probe_interval=0.2,
    )

    async def outage() -> None:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_redis.stop, signal.SIGKILL)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(own_redis.start)

    config = ServerConfig(access_keys=(ACCESS_KEY,), record_requests=False)
    async with (
        EmbeddedServer(config, dataset=dataset) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, limiter=limiter) as client,
    ):
        chaos = asyncio.create_task(outage())
        ids = list(dataset.call_ids)
        results = [
            r
            async for r in iter_calls(
                client, dataset.workspace_id, dataset.channel_id, ids, concurrency=16
            )
        ]
        await chaos
        assert sorted(r.index for r in results) == list(range(len(ids)))
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]

        async def back_on_redis() -> bool:
            await limiter.acquire()
            return limiter.mode is LimiterMode.REDIS

        await wait_until(back_on_redis, what="a probe finds Redis again")
    try:
        assert limiter.outages >= 1  # more if an answer was slower than 0.1 s: see above
        assert len(asyncsdk_warnings(caplog)) == limiter.outages
        assert limiter.mode is LimiterMode.REDIS
        assert limiter.script_loads >= 1  # the restarted server had lost the script
    finally:
        await limiter.aclose()
    assert limiter.mode is LimiterMode.CLOSED
    with pytest.raises(ClientClosedError):
        await limiter.acquire()


async def test_fail_closed_holds_requests_until_redis_answers(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisRateLimiter(
        own_redis.url, rate=100, key="closed", fail_closed=True, timeout=0.1, probe_interval=0.1
    )
    try:
        await limiter.acquire()
        own_redis.stop()
        waiter = asyncio.create_task(limiter.acquire())
        await wait_until(lambda: limiter.mode is LimiterMode.FALLBACK, what="the outage is seen")
        await asyncio.sleep(0.5)
        assert not waiter.done()
        await asyncio.to_thread(own_redis.start)
        await asyncio.wait_for(waiter, 30)  # the next probe, on a loaded machine too
        assert limiter.mode is LimiterMode.REDIS
        assert limiter.outages >= 1  # more if an answer was slower than 0.1 s: see above
        warnings = asyncsdk_warnings(caplog)
        assert len(warnings) == limiter.outages
        assert all("fail_closed" in warning.getMessage() for warning in warnings)
    finally:
        await limiter.aclose()


# --- a fleet of processes -----------------------------------------------------------------


def _worker_argv(server: EmbeddedServer, redis: RedisServer, **options: object) -> list[str]:
    argv = ["--redis", redis.url, "--base-url", server.base_url]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


async def test_four_processes_share_one_rate(redis_server: RedisServer) -> None:
    """4 processes at a shared 100/s for 5 s: never above 100/s (plus the burst), in any
    second, nor below 0.95 of it while the processes ran."""
    rate, burst, duration, processes = 100, 5, 5.0, 4
    # The grants are what is under test. The server's bucket only checks that nothing
    # grossly over-sends: a loaded machine can hold a granted request in one process
    # while the others send, so arrivals bunch beyond what was granted in any second.
    config = ServerConfig(
        access_keys=(ACCESS_KEY,), rate_limit=rate, burst=rate, record_requests=False
    )
    async with EmbeddedServer(config) as server:
        argvs = [
            _worker_argv(
                server,
                redis_server,
                key="fleet-rate",
                redis_timeout=STEADY,
                rate=rate,
                burst=burst,
                duration=duration,
                first=i * 250,
                count=250,
            )
            for i in range(processes)
        ]
        go, results = await run_workers(argvs)
        throttled = server.stats.throttled
    grants = sorted(t for r in results for t in r["grants"])
    steady = [t for t in grants if go + 0.5 <= t < go + duration - 0.5]
    aggregate = len(steady) / (duration - 1.0)
    # Never above the rate, however the processes were scheduled: judged from the slots
    # as Redis granted them, not from when a worker woke up to use one (after a stall,
    # slots granted before a window are used in it). A slot is due when Redis answered,
    # or `wait_us` later; Redis answered between `sent` and `answered`, so a slot whose
    # whole span of possible due times lies in a window was due in it, and the limit's
    # bound on due times (rate x seconds + burst) holds for those exactly.
    slots = [
        (sent + wait_us / 1e6, answered + wait_us / 1e6, granted)
        for r in results
        for sent, answered, granted, wait_us in r["replies"]
    ]

    def due_within(start: float, end: float) -> int:
        return sum(n for first, last, n in slots if start <= first and last < end)

    per_second = [due_within(go + k, go + k + 1) for k in range(int(duration))]
    assert due_within(go + 0.5, go + duration - 0.5) <= rate * (duration - 1.0) + burst
    # Not below it either while the processes ran: the rate over the time they could
    # ask. Eight tasks a process always wait, so the limiter grants one every 10 ms; a gap of
    # more than 100 ms means the machine did not run the workers (a loaded CI host
    # starves them for whole tenths of a second), and counts as 100 ms, not as time
    # the limiter left unused.
    gaps = [b - a for a, b in itertools.pairwise(steady)]
    active = sum(min(gap, STALL) for gap in gaps)
    assert 0.95 * rate <= len(gaps) / active, (len(gaps) / active, aggregate, per_second)
    assert max(per_second) <= burst + rate, per_second
    assert all(r["outcomes"].keys() == {"ok"} for r in results), [r["outcomes"] for r in results]
    assert all(len(r["grants"]) > 0.5 * rate * duration / processes for r in results)
    assert throttled <= 0.02 * len(grants), (throttled, len(grants))


async def test_exhaustion_seen_by_one_process_pauses_the_others(
    redis_server: RedisServer,
) -> None:
    """Worker 0 alone is told the quota is used up for 2 s; no worker sends meanwhile."""
    dataset = Dataset(300)
    throttled_id = dataset.call_ids[30]  # worker 0's 31st call, about 1 s in
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    exhausted = {"Retry-After": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"}
    async with EmbeddedServer(config, dataset=dataset) as server:
        server.script(throttled_id, ScriptedResponse(429, headers=exhausted))
        argvs = [
            _worker_argv(
                server,
                redis_server,
                key="fleet-pause",
                redis_timeout=STEADY,
                rate=90,
                burst=3,
                duration=4.5,
                dataset_size=300,
                first=i * 100,
                count=100,
                concurrency=4,
            )
            for i in range(3)
        ]
        _, results = await run_workers(argvs)
    # Worker 0 began handling the 429 at `began` and had written the pause (2 s, from a
    # moment after `began`) by `written`. Redis answers every request for a slot that
    # reaches it from then until the pause ends with "paused": one sent after `written`
    # and answered before `began` + 2 s can have had no other answer. What Redis
    # answered, not when a worker woke up to use a slot: a slot reserved just before
    # the pause, or a grant, can be used late on a busy machine.
    [(began, written)] = results[0]["throttles"]
    during = [
        (worker, round(sent - written, 3), granted)
        for worker, r in enumerate(results)
        for sent, answered, granted, _ in r["replies"]
        if written < sent and answered < began + 2.0 and granted != 0
    ]
    assert during == []
    for worker in (1, 2):  # the others were granted requests before and after the pause
        grants = results[worker]["grants"]
        assert any(g < began for g in grants)
        assert any(g > began + 2.0 for g in grants)
    assert all(r["outcomes"].keys() == {"ok"} for r in results), [r["outcomes"] for r in results]


async def test_the_fleet_stays_within_its_bound_while_workers_rejoin_after_an_outage(
    own_redis: RedisServer,
) -> None:
    """4 workers at a shared 100/s; Redis killed, then restarted between their probes.

    Each worker finds Redis again at its own next probe. Before, those already back
    shared the full rate while the others still sent their fallback share: 149 to 155
    requests in the next second. Now no second after the restart holds more than the
    fleet's bound (the rate, plus one fallback burst per worker, plus one grant a
    timer may add).
    """
    rate, processes, share = 100, 4, 0.25
    config = ServerConfig(access_keys=(ACCESS_KEY,), record_requests=False)
    async with EmbeddedServer(config) as server:
        argvs = [
            _worker_argv(
                server,
                own_redis,
                key="rejoin",
                rate=rate,
                duration=6.0,
                first=i * 250,
                count=250,
                fallback_share=share,
                probe_interval=0.7 + 0.15 * i,  # probes spread out, as in a real fleet
                redis_timeout=0.1,
            )
            for i in range(processes)
        ]

        async def outage() -> float:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(own_redis.stop, signal.SIGKILL)
            await asyncio.sleep(1.5)
            await asyncio.to_thread(own_redis.start)
            return time.time()

        chaos = asyncio.create_task(outage())
        _, results = await run_workers(argvs)
        restarted = await chaos
    grants = sorted(t for r in results for t in r["grants"])
    bound = rate + processes * max(1, int(share)) + 1
    windows = [
        sum(1 for t in grants if start <= t < start + 1.0)
        for start in (restarted + k * 0.1 for k in range(25))
    ]
    assert max(windows) <= bound, windows
    assert all(r["outcomes"].keys() == {"ok"} for r in results), [r["outcomes"] for r in results]
    assert all(r["mode"] == "redis" for r in results)


def test_missing_redis_server_is_a_skip_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-server on PATH: skipped with a reason, or failed when CI requires it."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("ASYNCSDK_REQUIRE_REDIS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not on PATH"):
        redis_executable()
    monkeypatch.setenv("ASYNCSDK_REQUIRE_REDIS", "1")
    with pytest.raises(pytest.fail.Exception, match="ASYNCSDK_REQUIRE_REDIS=1"):
        redis_executable()


# --- one limit per workspace ---------------------------------------------------------------

WORKSPACE_A = "00000000-0000-4000-8000-0000000000aa"
WORKSPACE_B = "00000000-0000-4000-8000-0000000000bb"
#: A stated exhaustion far longer than any test runs.
LONG_EXHAUSTED = {"RateLimit-Remaining": "0", "RateLimit-Reset": "50"}


async def test_each_workspace_has_its_own_key_shared_by_the_fleet(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Two workers (two limiters, two pools): one key per workspace, the same in both."""
    first = RedisRateLimiter(redis_server.url, rate=100, key="ws", workspace_rates={})
    second = RedisRateLimiter(
        redis_server.url, rate=100, key="ws", workspace_rates={WORKSPACE_B.upper(): 400}
    )
    try:
        a1, a2 = first.for_workspace(WORKSPACE_A), second.for_workspace(WORKSPACE_A.upper())
        b2 = second.for_workspace(WORKSPACE_B)
        assert a1.key == a2.key == f"{KEY_PREFIX}ws:{WORKSPACE_A}"
        assert b2.key == f"{KEY_PREFIX}ws:{WORKSPACE_B}" != first.key
        assert (a1.rate, b2.rate) == (100.0, 400.0)
        await a1.acquire()
        await a1.on_throttle(1.0, LONG_EXHAUSTED)  # workspace A's quota is used up
        # The pause is in A's key, where every worker's grant for A checks it ...
        pause = await redis_client.hget(a1.key, "pause")  # type: ignore[misc]
        assert pause is not None and int(pause) > 0
        assert await redis_client.hget(b2.key, "pause") is None  # type: ignore[misc]
        # ... and B goes on for every worker (bounded far below A's 50 s pause).
        async with asyncio.timeout(20):
            await b2.acquire()
            await first.for_workspace(WORKSPACE_B).acquire()
        with pytest.raises(TimeoutError):  # A's other worker is held by the fleet pause
            async with asyncio.timeout(1.0):
                await a2.acquire()
    finally:
        await first.aclose()
        await second.aclose()
    assert a1.mode is LimiterMode.CLOSED and b2.mode is LimiterMode.CLOSED  # closed with it
    with pytest.raises(ClientClosedError):
        first.for_workspace(WORKSPACE_A)


def test_workspace_ids_must_be_uuids() -> None:
    with pytest.raises(ConfigurationError, match="UUID"):
        RedisRateLimiter("redis://127.0.0.1:1", rate=1, key="k", workspace_rates={"x": 1})
    with pytest.raises(ConfigurationError, match="workspace_rates"):
        RedisRateLimiter("redis://127.0.0.1:1", rate=1, key="k", workspace_rates={WORKSPACE_A: 0})


async def test_a_client_keys_each_workspace_separately_in_redis(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        workspace_quotas=((WORKSPACE_A, 1000.0, 100), (WORKSPACE_B, 1000.0, 100)),
    )
    limiter = RedisRateLimiter(redis_server.url, rate=200, burst=10, key="client-ws")
    try:
        async with (
            EmbeddedServer(config, dataset=Dataset(size=20)) as server,
            Client(access_key=ACCESS_KEY, base_url=server.base_url, limiter=limiter) as client,
        ):
            ds = server.dataset
            for i, workspace in enumerate((WORKSPACE_A, WORKSPACE_B) * 3):
                await client.get_call(workspace, ds.channel_id, ds.call_ids[i])
            child_a, child_b = client.limiter_for(WORKSPACE_A), client.limiter_for(WORKSPACE_B)
            assert isinstance(child_a, RedisRateLimiter) and isinstance(child_b, RedisRateLimiter)
            assert child_a is not child_b and client.limiter is limiter
            for child in (child_a, child_b):
                assert await redis_client.exists(child.key) == 1
            assert await redis_client.exists(limiter.key) == 0  # the parent itself is unused
    finally:
        await limiter.aclose()


async def test_a_subclass_hooks_every_workspace(redis_server: RedisServer) -> None:
    """A subclass's acquire still sees every grant once the client asks per workspace."""
    grants: list[str] = []

    class Recording(RedisRateLimiter):
        __slots__ = ()

        async def acquire(self) -> None:
            await super().acquire()
            grants.append(self.key)

    limiter = Recording(redis_server.url, rate=1000, burst=10, key="hooked")
    try:
        child = limiter.for_workspace(WORKSPACE_A)
        assert isinstance(child, Recording)
        await child.acquire()
        child.on_success({})
        assert grants == [child.key]
    finally:
        await limiter.aclose()


@pytest.mark.integration
async def test_an_outage_seen_by_several_workspaces_is_one_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One WARNING and one outage for the limiter a client was given, whatever the fan-out."""
    dead = RedisRateLimiter("redis://127.0.0.1:1", rate=100, burst=4, key="dead", timeout=0.5)
    try:
        children = [dead.for_workspace(ws) for ws in (WORKSPACE_A, WORKSPACE_B)]
        with caplog.at_level(logging.WARNING, logger="asyncsdk"):
            async with asyncio.timeout(20):
                for child in children:
                    await child.acquire()  # granted by the local fallback
        assert all(child.mode is LimiterMode.FALLBACK for child in children)
        assert dead.mode is LimiterMode.FALLBACK
        assert dead.outages == 1
        warnings = asyncsdk_warnings(caplog)
        assert len(warnings) == 1
        assert WORKSPACE_A not in warnings[0].getMessage()  # no workspace IDs in the logs
    finally:
        await dead.aclose()
