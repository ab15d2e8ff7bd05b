"""Sharded listings under random combinations: every call of the window exactly once.

Each seed draws a dataset (calls spread out, packed into a few seconds, or many per
millisecond), a window that may start or end anywhere (whole seconds or not), how the
server reads the window (precision, inclusive bounds), whether its page tokens count
the calls served before, the endpoint, a status filter (short pages), and then a run
of listings: each with its own shards and page size, stopped after a random number of
calls or pages (or not at all), its checkpoint through JSON, resumed on a server where
more calls exist, some appearing while it runs. Whatever the draw, a call that existed
from the start is listed exactly once, a call made meanwhile at most once, and nothing
outside the window. Seeded and bounded: a failure names its seed.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter

import pytest

import asyncsdk
from asyncsdk import Client, ListingCheckpoint, ShardedListing
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from ._support import ACCESS_KEY

DATASETS = (
    Dataset(600, seed=21, span=dt.timedelta(seconds=30)),  # createdAt tells calls apart
    Dataset(2400, seed=22, span=dt.timedelta(seconds=3)),  # pages cut inside seconds
    Dataset(1200, seed=23, span=dt.timedelta(milliseconds=40)),  # 30 calls per millisecond
)
#: A sweep, and the draws that found a split leaving an empty shard (122, 130: one that
#: never finished) and more new calls than a page with counting tokens (79, 100, 113).
SEEDS = (*range(20), 79, 100, 113, 122, 130)
ROUNDS = 25  # a listing resumed this often is done long before: the test would say so
US = dt.timedelta(microseconds=1)


def _window(rng: random.Random, ds: Dataset) -> tuple[dt.datetime, dt.datetime]:
    """A window around the calls: whole seconds, whole milliseconds or anywhere."""
    timeline = ds.timeline
    span_us = ds.timeline.span // US
    a = rng.randint(-2_000_000, span_us + 1_000_000)
    b = rng.randint(-2_000_000, span_us + 2_000_000)
    a, b = min(a, b), max(a, b) + 1
    grain = rng.choice([1, 1000, 1_000_000])
    start = timeline.start + (a // grain) * grain * US
    end = timeline.start + max(a // grain + 1, -(-b // grain)) * grain * US
    return start, end


def _listing(
    endpoint: str,
    client: Client,
    ds: Dataset,
    window: tuple[dt.datetime, dt.datetime],
    **kw: object,
) -> ShardedListing:
    start, end = window
    if endpoint == "log":
        return asyncsdk.iter_call_log(
            client,
            ds.workspace_id,
            start_at=start,
            end_at=end,
            **kw,  # type: ignore[arg-type]
        )
    return asyncsdk.iter_channel_calls(
        client,
        ds.workspace_id,
        ds.channel_id,
        start_at=start,
        end_at=end,
        **kw,  # type: ignore[arg-type]
    )


async def _take(listing: ShardedListing, limit: int | None, mode: str) -> list[uuid.UUID]:
    """Take calls (or whole pages) until ``limit`` calls or the end, then stop."""
    taken: list[uuid.UUID] = []
    async with listing:
        if mode == "pages":
            async for page in listing.pages():
                taken += [call.id for call in page.results]
                if limit is not None and len(taken) >= limit:
                    break
        else:
            async for call in listing:
                taken.append(call.id)
                if limit is not None and len(taken) >= limit:
                    break
    return taken


@pytest.mark.parametrize("seed", SEEDS)
async def test_random_listings_stopped_and_resumed_list_each_call_once(seed: int) -> None:
    rng = random.Random(seed)
    ds = rng.choice(DATASETS)
    window = _window(rng, ds)
    endpoint = rng.choice(["log", "channel"])
    reading = {
        "time_precision": rng.choice(["second", "millisecond", "microsecond"]),
        "start_inclusive": rng.random() < 0.5,
        "end_inclusive": rng.random() < 0.5,
        "offset_tokens": rng.random() < 0.5,
    }
    # Drawn apart, so that a seed's other draws stay those noted at SEEDS.
    status = random.Random(-seed).choice([None, None, ("completed",), ("busy", "no-answer")])
    created = ds.timeline.created_at
    inside = {
        c
        for i, c in enumerate(ds.call_ids)
        if window[0] <= created(i) < window[1]
        and (status is None or getattr(ds.call(c), "status", None) in status)
    }
    hidden = set(rng.sample(list(ds.call_ids), len(ds.call_ids) // 20))  # made later
    existing = inside - hidden
    listed: list[uuid.UUID] = []
    checkpoint: ListingCheckpoint | None = None
    for _ in range(ROUNDS):
        appear_at = rng.choice([None, 2, 3, 5])  # the hidden calls appear mid-listing
        config = ServerConfig(
            access_keys=(ACCESS_KEY,),
            unlisted=frozenset(hidden),
            unlisted_until=appear_at,
            **reading,  # type: ignore[arg-type]
        )
        async with (
            EmbeddedServer(config, dataset=ds) as server,
            Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
        ):
            listing = _listing(
                endpoint,
                client,
                ds,
                window,
                shards=rng.randint(1, 6),
                page_size=rng.choice([7, 20, 60, 250]),
                resume=checkpoint,
                status=status,
            )
            stop = None if rng.random() < 0.15 else rng.randint(1, 300)
            listed += await _take(listing, stop, rng.choice(["calls", "pages"]))
            checkpoint = ListingCheckpoint.from_json(listing.checkpoint().to_json())
        if appear_at is not None:
            hidden = set()
        else:
            hidden -= set(rng.sample(sorted(hidden), len(hidden) // 3))
        if checkpoint.complete:
            break
    assert checkpoint is not None and checkpoint.complete, "not done after every round"
    counts = Counter(listed)
    assert not counts or counts.most_common(1)[0][1] == 1, "a call was listed twice"
    assert existing <= set(listed), f"{len(existing - set(listed))} calls lost"
    assert set(listed) <= inside, "a call outside the window was listed"
