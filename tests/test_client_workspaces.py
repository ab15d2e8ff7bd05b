"""One client, several workspaces: each paced by a limiter of its own.

Against the embedded server over loopback, with a quota per workspace
(``ServerConfig.workspace_quotas``); the pool's bound is also checked without I/O.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping

import pytest

from asyncsdk import (
    Call,
    Client,
    ConfigurationError,
    LimiterTimeoutError,
    RateLimiter,
    RateLimitError,
    Timeout,
    TokenBucketLimiter,
)
from asyncsdk.ratelimit._workspaces import Lanes, workspace_of
from asyncsdk.server import Dataset, EmbeddedServer, ScriptedResponse, ServerConfig

from ._support import ACCESS_KEY, wait_until

SLOW = "00000000-0000-4000-8000-00000000000a"
FAST = "00000000-0000-4000-8000-00000000000b"
OTHER = "00000000-0000-4000-8000-00000000000c"
#: A stated exhaustion: every request of that workspace waits 50 s (well past any test).
EXHAUSTED = {"RateLimit-Remaining": "0", "RateLimit-Reset": "50", "Retry-After": "1"}


def two_quotas(**kwargs: object) -> ServerConfig:
    return ServerConfig(
        access_keys=(ACCESS_KEY,),
        workspace_quotas=((SLOW, 20.0, 1), (FAST, 1000.0, 1000), (OTHER, 1000.0, 1000)),
        **kwargs,  # type: ignore[arg-type]
    )


def bucket(limiter: RateLimiter | None) -> TokenBucketLimiter:
    assert isinstance(limiter, TokenBucketLimiter)
    return limiter


# --- the server's quotas -----------------------------------------------------------------


async def test_server_states_each_workspace_its_own_quota() -> None:
    async with (
        EmbeddedServer(two_quotas(rate_limit=100.0), dataset=Dataset(size=10)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        ds = server.dataset
        for workspace in (SLOW, FAST, ds.workspace_id):
            await client.get_call(workspace, ds.channel_id, ds.call_ids[0])
    # Each answer's RateLimit-Policy set its workspace's limiter to that quota.
    assert bucket(client.limiter_for(SLOW)).rate == 20.0
    assert bucket(client.limiter_for(FAST)).rate == 1000.0
    assert bucket(client.limiter_for(ds.workspace_id)).rate == 100.0
    assert set(server.stats.workspace_timelines) == {SLOW, FAST}


def test_server_refuses_a_bad_workspace_quota() -> None:
    with pytest.raises(ValueError, match="UUID"):
        ServerConfig(workspace_quotas=(("not-a-uuid", 10.0, 1),))
    with pytest.raises(ValueError, match="rate"):
        ServerConfig(workspace_quotas=((SLOW, 0.0, 1),))
    with pytest.raises(ValueError, match="two quotas"):
        ServerConfig(workspace_quotas=((SLOW, 1.0, 1), (SLOW.upper(), 2.0, 1)))


# --- pacing each workspace on its own state ---------------------------------------------


async def test_a_slow_workspaces_429s_do_not_touch_the_others_limiter() -> None:
    """The 20/s workspace is throttled; the 1,000/s one never is, and its limiter saw none."""
    config = two_quotas(policy_header=False, limit_headers=False)
    async with (
        EmbeddedServer(config, dataset=Dataset(size=220)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=8) as client,
    ):
        ds = server.dataset
        # 20 IDs at once against a bucket of one: throttled from the first moment.
        slow = [client.get_call(SLOW, ds.channel_id, c) for c in ds.call_ids[:20]]
        fast = [client.get_call(FAST, ds.channel_id, c) for c in ds.call_ids[20:]]
        results = await asyncio.gather(*slow, *fast, return_exceptions=True)
        slow_stats = client.workspace_stats(SLOW)
        fast_stats = client.workspace_stats(FAST)
        fast_limiter = bucket(client.limiter_for(FAST))
        slow_limiter = bucket(client.limiter_for(SLOW))
    assert all(isinstance(r, Call) for r in results[20:])  # every fast ID, none lost
    assert slow_stats is not None and fast_stats is not None
    assert slow_stats.throttled > 0  # the slow workspace was throttled ...
    assert fast_stats.throttled == 0  # ... and the fast one's limiter never heard of it
    assert fast_limiter is not slow_limiter
    assert "throttles=0" in repr(fast_limiter) and "cuts=0" in repr(fast_limiter)
    assert fast_limiter.pauses == 0
    assert client.stats.workspaces == 2


async def test_a_stated_pause_on_one_workspace_does_not_pause_another() -> None:
    async with (
        EmbeddedServer(two_quotas(), dataset=Dataset(size=10)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        ds = server.dataset
        await client.get_call(FAST, ds.channel_id, ds.call_ids[1])  # both limiters exist
        server.script(ds.call_ids[0], ScriptedResponse(status=429, headers=EXHAUSTED))
        with pytest.raises(RateLimitError):
            await client.get_call(SLOW, ds.channel_id, ds.call_ids[0])
        assert bucket(client.limiter_for(SLOW)).expected_wait() > 40  # paused 50 s
        # The other workspace goes on at once (the bound is far below the 50 s pause).
        async with asyncio.timeout(20):
            call = await client.get_call(FAST, ds.channel_id, ds.call_ids[2])
        assert isinstance(call, Call)
        assert bucket(client.limiter_for(FAST)).pauses == 0


async def test_load_shedding_applies_to_each_workspaces_own_limiter() -> None:
    async with (
        EmbeddedServer(two_quotas(), dataset=Dataset(size=10)) as server,
        Client(
            access_key=ACCESS_KEY,
            base_url=server.base_url,
            max_retries=0,
            timeout=Timeout(limiter_wait=0.5),
        ) as client,
    ):
        ds = server.dataset
        server.script(ds.call_ids[0], ScriptedResponse(status=429, headers=EXHAUSTED))
        with pytest.raises(RateLimitError):
            await client.get_call(SLOW, ds.channel_id, ds.call_ids[0])
        with pytest.raises(LimiterTimeoutError):  # refused at once: nothing sent
            await client.get_call(SLOW, ds.channel_id, ds.call_ids[1])
        assert isinstance(await client.get_call(FAST, ds.channel_id, ds.call_ids[2]), Call)
        assert client.stats.limiter_timeouts == 1


async def test_rate_limit_applies_per_workspace() -> None:
    config = two_quotas(policy_header=False, limit_headers=False)  # R alone sets the rate
    async with (
        EmbeddedServer(config, dataset=Dataset(size=10)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, rate_limit=50) as client,
    ):
        ds = server.dataset
        before = client.limiter
        await client.get_call(SLOW, ds.channel_id, ds.call_ids[0])
        assert client.limiter is before  # the first workspace takes the client's limiter
        await client.get_call(FAST.upper(), ds.channel_id, ds.call_ids[1])
        slow, fast = bucket(client.limiter_for(SLOW)), bucket(client.limiter_for(FAST))
    assert slow is not fast
    assert slow.rate == fast.rate == 50.0
    assert client.limiter is fast  # the workspace called last
    assert client.limiter_for(OTHER) is None  # never called


async def test_list_pages_wait_on_their_workspaces_limiter(server: EmbeddedServer) -> None:
    ds = server.dataset
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        pages = client.list_call_log(ds.workspace_id)
        assert [c async for c in pages]
        stats = client.workspace_stats(ds.workspace_id)
    assert stats is not None and stats.attempts >= 1 and stats.in_flight == 0


# --- the bound ------------------------------------------------------------------------------


def test_lanes_keep_the_most_recently_used_and_never_drop_one_in_use() -> None:
    made: Counter[str] = Counter()

    def factory(workspace: str) -> RateLimiter:
        made[workspace] += 1
        return TokenBucketLimiter(None)

    lanes = Lanes(factory, 2)
    a = lanes.checkout("a")  # in use from here on
    lanes.release(lanes.checkout("b"))
    lanes.release(lanes.checkout("c"))  # full: b (idle, least recent) goes; a is in use
    assert lanes.get("a") is a and lanes.get("b") is None and len(lanes) == 2
    lanes.release(lanes.checkout("d"))  # c goes
    assert lanes.get("c") is None and lanes.get("a") is a
    lanes.release(a)
    lanes.release(lanes.checkout("d"))  # d is now the most recent
    lanes.release(lanes.checkout("e"))  # a (idle, least recent) goes
    assert lanes.get("a") is None and lanes.get("d") is not None
    assert lanes.evicted == 3
    assert made == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}


def test_lanes_grow_past_the_bound_only_while_every_lane_is_in_use() -> None:
    lanes = Lanes(lambda _ws: TokenBucketLimiter(None), 1)
    busy = [lanes.checkout(str(i)) for i in range(3)]
    assert len(lanes) == 3 and lanes.evicted == 0
    for lane in busy:
        lanes.release(lane)
    lanes.release(lanes.checkout("new"))
    assert len(lanes) == 1 and lanes.evicted == 3  # back within the bound once idle


async def test_a_client_evicts_idle_workspaces_and_keeps_the_one_in_flight() -> None:
    async with (
        EmbeddedServer(two_quotas(), dataset=Dataset(size=10)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, max_workspaces=1) as client,
    ):
        ds = server.dataset
        server.script(ds.call_ids[0], ScriptedResponse(action="slow"))
        in_flight = asyncio.create_task(client.get_call(SLOW, ds.channel_id, ds.call_ids[0]))
        await wait_until(lambda: bool(server.requests), what="the slow call reaches the server")
        slow_limiter = client.limiter_for(SLOW)
        await client.get_call(FAST, ds.channel_id, ds.call_ids[1])
        await client.get_call(OTHER, ds.channel_id, ds.call_ids[2])  # FAST goes, not SLOW
        assert client.limiter_for(SLOW) is slow_limiter
        assert client.limiter_for(FAST) is None
        assert client.stats.workspaces == 2
        assert client.stats.workspaces_evicted == 1
        in_flight.cancel()
        with pytest.raises(asyncio.CancelledError):
            await in_flight
        workspace = client.workspace_stats(SLOW)
        assert workspace is not None and workspace.in_flight == 0
    with pytest.raises(ConfigurationError, match="max_workspaces"):
        Client(access_key=ACCESS_KEY, max_workspaces=0)


def test_workspace_of_reads_the_path() -> None:
    assert workspace_of(f"/workspaces/{SLOW}/channels/calls") == SLOW
    with pytest.raises(ValueError, match="workspace path"):
        workspace_of("/calls")


# --- custom limiters ----------------------------------------------------------------------


class Plain:
    """A custom limiter with no per-workspace children: one limit for every workspace."""

    def __init__(self) -> None:
        self.grants = 0

    async def acquire(self) -> None:
        self.grants += 1

    def on_success(self, headers: Mapping[str, str]) -> None:
        pass

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        pass

    def on_failure(self, *, server: bool = True) -> None:
        pass


class Parent(Plain):
    """A custom limiter that gives each workspace a child."""

    def __init__(self) -> None:
        super().__init__()
        self.children: dict[str, Plain] = {}

    def for_workspace(self, workspace_id: str) -> RateLimiter:
        assert workspace_id not in self.children  # asked once per workspace
        child = self.children[workspace_id] = Plain()
        return child


async def test_a_custom_limiter_without_children_is_shared_by_every_workspace() -> None:
    limiter = Plain()
    async with (
        EmbeddedServer(two_quotas(), dataset=Dataset(size=10)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, limiter=limiter) as client,
    ):
        ds = server.dataset
        await client.get_call(SLOW, ds.channel_id, ds.call_ids[0])
        await client.get_call(FAST, ds.channel_id, ds.call_ids[1])
        assert client.limiter is limiter
        assert client.limiter_for(SLOW) is client.limiter_for(FAST) is limiter
        assert client.workspace_stats(SLOW) is None  # one limit: nothing per workspace
    assert limiter.grants == 2


async def test_a_custom_limiter_with_children_gives_each_workspace_one() -> None:
    limiter = Parent()
    async with (
        EmbeddedServer(two_quotas(), dataset=Dataset(size=10)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, limiter=limiter) as client,
    ):
        ds = server.dataset
        for i, workspace in enumerate((OTHER, FAST, OTHER, uuid.UUID(FAST))):
            await client.get_call(workspace, ds.channel_id, ds.call_ids[i])
        assert client.limiter is limiter
        assert client.limiter_for(OTHER) is limiter.children[OTHER]
    assert limiter.grants == 0
    assert {ws: child.grants for ws, child in limiter.children.items()} == {OTHER: 2, FAST: 2}


def test_server_command_line_takes_workspace_quotas() -> None:
    import argparse

    from asyncsdk.server import add_server_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    args = parser.parse_args(
        ["--burst", "7", f"--workspace-quota={SLOW.upper()}:50", f"--workspace-quota={FAST}:200:50"]
    )
    config = config_from_args(args)
    assert config.workspace_quotas == ((SLOW, 50.0, 7), (FAST, 200.0, 50))
    with pytest.raises(SystemExit):
        parser.parse_args(["--workspace-quota", "x:fast"])


@pytest.mark.parametrize("stated", [True, False], ids=["stated", "silent"])
async def test_no_id_is_lost_if_the_quota_is_per_account_after_all(stated: bool) -> None:
    """Bird documents a quota per workspace; were it per account, nothing may be lost."""
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        rate_limit=100.0,
        burst=10,
        policy_header=stated,
        limit_headers=stated,
        workspace_aliases=(SLOW, FAST),  # both draw on the account's one bucket
    )
    async with (
        EmbeddedServer(config, dataset=Dataset(size=160)) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=10) as client,
    ):
        ds = server.dataset
        calls = [
            client.get_call(ws, ds.channel_id, c)
            for ws, chunk in ((SLOW, ds.call_ids[:80]), (FAST, ds.call_ids[80:]))
            for c in chunk
        ]
        async with asyncio.timeout(120):  # a hang guard, far above the ~2 s this takes
            results = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(r).__name__ for r in results if not isinstance(r, Call)] == []
    assert server.stats.by_status[200] == 160  # every ID once, whatever the 429s
