"""Resuming a sharded listing on a live workspace: calls made between stop and resume.

Two embedded servers over one dataset stand for the workspace before and after some
calls were created (`ServerConfig.unlisted`): a listing is stopped on the first (inside
a page, or between pages), its checkpoint goes through JSON, and it is resumed on the
second. Every call must come exactly once, and a new call must come when it is in an
unfinished shard's window and after what that shard handed over, in listing order
(newest first): the calls a shard had already passed are the next listing's.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import pytest

import asyncsdk
from asyncsdk import Client, ListingCheckpoint
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from ._support import ACCESS_KEY

#: One call every 10 ms over 10 s: createdAt tells every call apart.
SPREAD = Dataset(1000, seed=12, span=dt.timedelta(seconds=10))
#: 20 calls per millisecond: a checkpoint lands among calls of one createdAt.
TIED = Dataset(2000, seed=13, span=dt.timedelta(milliseconds=100))


@asynccontextmanager
async def workspace(ds: Dataset, unlisted: Iterable[uuid.UUID] = ()) -> AsyncIterator[Client]:
    """A client of a server over ``ds`` where ``unlisted`` are not created yet."""
    config = ServerConfig(access_keys=(ACCESS_KEY,), unlisted=frozenset(unlisted))
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        yield client


def whole(ds: Dataset, client: Client, **kwargs: object) -> asyncsdk.ShardedListing:
    timeline = ds.timeline
    return asyncsdk.iter_call_log(
        client,
        ds.workspace_id,
        start_at=timeline.start,
        end_at=timeline.end,
        **kwargs,  # type: ignore[arg-type]
    )


async def stop_after(
    listing: asyncsdk.ShardedListing, calls: int, *, mode: str
) -> tuple[list[uuid.UUID], ListingCheckpoint]:
    """Take ``calls`` calls (whole pages in ``pages`` mode), stop, return the checkpoint."""
    handed: list[uuid.UUID] = []
    async with listing:
        if mode == "pages":
            async for page in listing.pages():
                handed += [call.id for call in page.results]
                if len(handed) >= calls:
                    break
        else:
            async for call in listing:
                handed.append(call.id)
                if len(handed) >= calls:
                    break
    return handed, ListingCheckpoint.from_json(listing.checkpoint().to_json())


async def resume(ds: Dataset, checkpoint: ListingCheckpoint) -> list[uuid.UUID]:
    async with workspace(ds) as client:
        return [call.id async for call in whole(ds, client, shards=3, resume=checkpoint)]


def created(ds: Dataset, call_id: uuid.UUID) -> dt.datetime:
    index = ds.index(call_id)
    assert index is not None
    return ds.timeline.created_at(index)


def still_to_come(
    ds: Dataset, checkpoint: ListingCheckpoint, handed: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Every call (new ones too) an unfinished shard has not passed yet.

    A shard has passed the calls newer than the oldest it handed over; of the calls at
    that very createdAt, those it handed over (the API's order among equal createdAt is
    not something a client can rely on).
    """
    expected: set[uuid.UUID] = set()
    for shard in checkpoint.shards:
        inside = [c for c in ds.call_ids if shard.start <= created(ds, c) < shard.end]
        mine = [c for c in handed if shard.start <= created(ds, c) < shard.end]
        if not mine:
            expected.update(inside)
            continue
        oldest = min(created(ds, c) for c in mine)
        expected.update(
            c
            for c in inside
            if created(ds, c) < oldest or (created(ds, c) == oldest and c not in mine)
        )
    return expected


def check(
    ds: Dataset,
    handed: list[uuid.UUID],
    resumed: list[uuid.UUID],
    checkpoint: ListingCheckpoint,
    new: set[uuid.UUID],
) -> None:
    everything = handed + resumed
    assert Counter(everything).most_common(1)[0][1] == 1, "a call was listed twice"
    before = set(ds.call_ids) - new
    assert before <= set(everything), f"{len(before - set(everything))} calls lost"
    assert set(resumed) == still_to_come(ds, checkpoint, handed)


@pytest.mark.parametrize("mode", ["calls", "pages"])
async def test_new_calls_in_the_first_page_and_at_its_top(mode: str) -> None:
    """Ten new calls at the top (newest) and more inside and after the first page."""
    ds = SPREAD
    ids = list(ds.call_ids)
    top = set(ids[-10:])  # newer than anything the listing had seen
    inside = {ids[-30], ids[-35], ids[-80], ids[-95]}  # in the first page, either side
    later = {ids[500], ids[10]}
    new = top | inside | later
    async with workspace(ds, new) as client:
        handed, checkpoint = await stop_after(
            whole(ds, client, shards=1, page_size=100), 20, mode=mode
        )
    assert checkpoint.shards
    resumed = await resume(ds, checkpoint)
    check(ds, handed, resumed, checkpoint, new)
    assert later <= set(resumed)
    assert not top & set(resumed)  # the shard had passed them: the next listing's
    if mode == "calls":
        assert {ids[-80], ids[-95]} <= set(resumed)


@pytest.mark.parametrize("stop", [1, 19, 20, 21, 50])
async def test_new_calls_tied_with_the_last_call_handed_over(stop: int) -> None:
    """New calls at the very createdAt of the checkpoint, before and after it in the page."""
    ds = TIED
    ids = list(ds.call_ids)
    rng = random.Random(stop)
    # Calls sharing createdAt come in 20s; the listing stops inside one of those groups.
    new = set(rng.sample(ids[-80:], 12)) | set(rng.sample(ids[:-80], 20))
    async with workspace(ds, new) as client:
        handed, checkpoint = await stop_after(
            whole(ds, client, shards=1, page_size=30), stop, mode="calls"
        )
    resumed = await resume(ds, checkpoint)
    check(ds, handed, resumed, checkpoint, new)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", ["calls", "pages"])
async def test_many_shards_stopped_anywhere_with_calls_made_everywhere(
    seed: int, mode: str
) -> None:
    ds = SPREAD
    rng = random.Random(seed)
    new = set(rng.sample(list(ds.call_ids), 80))
    async with workspace(ds, new) as client:
        listing = whole(ds, client, shards=rng.randint(2, 6), page_size=rng.choice([25, 40]))
        handed, checkpoint = await stop_after(listing, rng.randint(1, 400), mode=mode)
    resumed = await resume(ds, checkpoint)
    check(ds, handed, resumed, checkpoint, new)


@pytest.mark.parametrize("seed", range(3))
async def test_stopped_and_resumed_again_and_again_while_calls_keep_coming(seed: int) -> None:
    """Each round a workspace with more calls, another page size, another stop point."""
    ds = SPREAD
    rng = random.Random(seed)
    hidden = set(rng.sample(list(ds.call_ids), 200))
    at_first = set(ds.call_ids) - hidden
    listed: list[uuid.UUID] = []
    checkpoint: ListingCheckpoint | None = None
    for _ in range(40):  # bounded: a listing of 1,000 calls is done well before
        async with workspace(ds, hidden) as client:
            listing = whole(
                ds,
                client,
                shards=rng.randint(1, 6),
                page_size=rng.choice([10, 25, 60]),
                resume=checkpoint,
            )
            handed, checkpoint = await stop_after(
                listing, rng.randint(1, 150), mode=rng.choice(["calls", "pages"])
            )
        listed += handed
        hidden -= set(rng.sample(sorted(hidden), min(len(hidden), 25)))  # calls made
        if checkpoint.complete:
            break
    assert checkpoint is not None and checkpoint.complete
    assert Counter(listed).most_common(1)[0][1] == 1, "a call was listed twice"
    assert at_first <= set(listed), f"{len(at_first - set(listed))} calls lost"


@pytest.mark.parametrize("offset_tokens", [True, False], ids=["offset-tokens", "key-tokens"])
@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("appear_at", [2, 5])
async def test_calls_created_while_the_listing_runs(
    offset_tokens: bool, shards: int, appear_at: int
) -> None:
    """New calls at the top while pages are fetched: an API whose tokens count calls
    served before then repeats some in the next page; none may be listed twice."""
    ds = SPREAD
    ids = list(ds.call_ids)
    new = set(ids[-12:]) | set(random.Random(appear_at).sample(ids[:-12], 6))
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        unlisted=frozenset(new),
        unlisted_until=appear_at,
        offset_tokens=offset_tokens,
    )
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        listed = [c.id async for c in whole(ds, client, shards=shards, page_size=30)]
    assert Counter(listed).most_common(1)[0][1] == 1, "a call was listed twice"
    before = set(ids) - new
    assert before <= set(listed), f"{len(before - set(listed))} calls lost"
    assert set(listed) <= set(ids)
