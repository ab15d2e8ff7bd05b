"""The situations real clients meet: sporadic 429s, a changing limit, a neighbour, an
outage, headers off. The quota on a fake clock, then each mode over loopback HTTP."""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter

import aiohttp
import pytest

from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    Faults,
    ServerConfig,
    add_server_arguments,
    config_from_args,
)
from asyncsdk.server._limiter import Quota
from asyncsdk.server._stats import TIMELINE_BIN_SECONDS

# --- the quota, on a fake clock ----------------------------------------------------------


def _admitted(quota: Quota, start: float, end: float, every: float) -> int:
    t, n = start, 0
    while t < end:
        n += quota.acquire(t).allowed
        t += every
    return n


def test_a_schedule_changes_the_rate_at_its_times() -> None:
    quota = Quota(200.0, 5, 100.0, schedule=((10.0, 100.0), (20.0, 300.0)))
    assert _admitted(quota, 100.0, 110.0, 0.001) == pytest.approx(2000, abs=6)
    assert quota.rate == 200.0
    assert _admitted(quota, 110.0, 120.0, 0.001) == pytest.approx(1000, abs=6)
    assert _admitted(quota, 120.0, 130.0, 0.001) == pytest.approx(3000, abs=6)
    assert quota.rate == 300.0


def test_a_neighbour_is_served_first_and_leaves_the_rest() -> None:
    quota = Quota(200.0, 20, 0.0, neighbour_rate=150.0)
    assert _admitted(quota, 0.0, 10.0, 0.0005) == pytest.approx(500 + 20, abs=25)


# --- over loopback -----------------------------------------------------------------------


async def _statuses(server: EmbeddedServer, n: int, *, gap: float = 0.0) -> list[int]:
    statuses = []
    headers = {"Authorization": "AccessKey test-access-key"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for call_id in server.dataset.call_ids[:n]:
            async with session.get(server.call_url(call_id)) as response:
                statuses.append(response.status)
                await response.read()
            if gap:
                await asyncio.sleep(gap)
    return statuses


async def test_sporadic_429s_come_whatever_the_rate_with_their_retry_after() -> None:
    config = ServerConfig(faults=Faults(throttle=0.3, throttle_retry_after=(0, 2)), seed=5)
    async with EmbeddedServer(config, dataset=Dataset(size=200)) as server:
        headers = {"Authorization": "AccessKey test-access-key"}
        seen: Counter[str] = Counter()
        async with aiohttp.ClientSession(headers=headers) as session:
            for call_id in server.dataset.call_ids:
                async with session.get(server.call_url(call_id)) as response:
                    if response.status == 429:
                        seen[response.headers["Retry-After"]] += 1
    assert set(seen) == {"0", "2"}
    assert 40 <= sum(seen.values()) <= 80
    assert server.stats.faults["429_throttle"] == sum(seen.values())


async def test_turning_sporadic_429s_on_leaves_the_other_faults_seeded_as_before() -> None:
    async def statuses(faults: Faults) -> list[int]:
        config = ServerConfig(faults=faults, seed=9)
        async with EmbeddedServer(config, dataset=Dataset(size=100)) as server:
            return await _statuses(server, 100)

    before = await statuses(Faults(error_500=0.2))
    after = await statuses(Faults(error_500=0.2, throttle=0.2))
    assert 500 in before and 429 in after
    assert all(a in (429, b) for a, b in zip(after, before, strict=True))


async def test_an_outage_answers_503_in_its_window_only() -> None:
    # A window of 1 s among 80 requests 20 ms apart: only a stall of a second could skip it.
    config = ServerConfig(outage=(0.2, 1.0))
    async with EmbeddedServer(config, dataset=Dataset(size=100)) as server:
        statuses = await _statuses(server, 80, gap=0.02)
        timeline = server.stats.timeline
        arrived = [r.time - server.requests[0].time for r in server.requests]
    # One request at a time: the server's log is in the order of the answers.
    assert [s == 503 for s in statuses] == [0.2 <= t < 0.2 + 1.0 for t in arrived]
    assert statuses[0] == 200 and statuses[-1] == 200
    assert 503 in statuses
    first, last = statuses.index(503), len(statuses) - statuses[::-1].index(503) - 1
    assert all(s == 503 for s in statuses[first : last + 1])
    assert server.stats.faults["outage"] == statuses.count(503)
    assert sum(b[0] for b in timeline) == 80
    assert sum(b[3] for b in timeline) == statuses.count(503)
    assert len(timeline) * TIMELINE_BIN_SECONDS >= 0.6


async def test_the_policy_header_states_the_rate_in_force() -> None:
    config = ServerConfig(rate_limit=1000.0, rate_schedule=((0.15, 500.0),))
    async with EmbeddedServer(config, dataset=Dataset(size=50)) as server:
        headers = {"Authorization": "AccessKey test-access-key"}
        policies = []
        async with aiohttp.ClientSession(headers=headers) as session:
            for call_id in server.dataset.call_ids[:20]:
                async with session.get(server.call_url(call_id)) as response:
                    policies.append(response.headers["RateLimit-Policy"])
                await asyncio.sleep(0.02)
    assert policies[0] == "1000;w=1"
    assert policies[-1] == "500;w=1"


async def test_limit_headers_can_be_switched_off() -> None:
    # 0.001/s: the third request finds the bucket empty however long a loaded machine
    # takes between them (at 5/s, 0.2 s between two would refill it).
    config = ServerConfig(rate_limit=0.001, burst=1, policy_header=False, limit_headers=False)
    async with EmbeddedServer(config, dataset=Dataset(size=10)) as server:
        headers = {"Authorization": "AccessKey test-access-key"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for call_id in server.dataset.call_ids[:3]:
                async with session.get(server.call_url(call_id)) as response:
                    names = [h.lower() for h in response.headers]
                    assert not [h for h in names if h.startswith(("x-ratelimit", "ratelimit"))]
                    last = response.status
    assert last == 429  # the limit is there; only the headers are gone


async def test_a_neighbour_takes_its_share_of_the_limit() -> None:
    config = ServerConfig(rate_limit=100.0, burst=1, neighbour_rate=75.0)
    async with EmbeddedServer(config, dataset=Dataset(size=200)) as server:
        statuses = await _statuses(server, 100, gap=0.005)
        span = server.requests[-1].time - server.requests[0].time
    # What the neighbour's 75/s leaves of 100/s, over the time the requests took (longer
    # on a loaded machine, which admits more), plus the burst: well under the 100/s
    # alone would admit. A fixed count would assume how fast the machine ran.
    assert 0 < statuses.count(200) <= 3 + 30 * span


def test_the_options_reach_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    args = parser.parse_args(
        [
            *("--rate-limit", "200", "--rate-schedule", "10:100,20:300"),
            *("--neighbour-rate", "50", "--outage", "5:10", "--fault-429", "0.1"),
            *("--fault-429-retry-after", "0,1,2", "--retry-after-503", "4"),
            "--no-limit-headers",
        ]
    )
    config = config_from_args(args)
    assert config.rate_schedule == ((10.0, 100.0), (20.0, 300.0))
    assert config.neighbour_rate == 50.0
    assert config.outage == (5.0, 10.0)
    assert config.faults.throttle == 0.1
    assert config.faults.throttle_retry_after == (0, 1, 2)
    assert config.faults.retry_after_503 == 4
    assert config.limit_headers is False
    for bad in (["--rate-schedule", "10"], ["--outage", "5"], ["--fault-429-retry-after", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_schedule": ((10.0, 100.0),)}, "need rate_limit"),
        ({"rate_limit": 1.0, "rate_schedule": ((10.0, 100.0), (5.0, 1.0))}, "increase"),
        ({"rate_limit": 1.0, "rate_schedule": ((1.0, 0.0),)}, "rates"),
        ({"rate_limit": 1.0, "neighbour_rate": -1.0}, "neighbour_rate"),
        ({"outage": (1.0, 0.0)}, "outage duration"),
    ],
)
def test_bad_traffic_settings_say_what_is_wrong(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ServerConfig(**kwargs)  # type: ignore[arg-type]
