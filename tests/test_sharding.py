"""Sharded listings against the real embedded server: each call exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

import asyncsdk
from asyncsdk import (
    Client,
    ConfigurationError,
    DecodeError,
    InvalidIDError,
    ListingCheckpoint,
    ServerError,
    ShardedListing,
)
from asyncsdk.server import Dataset, EmbeddedServer, Faults, ServerConfig

from ._aioresponses_compat import MockAPI
from ._support import ACCESS_KEY, MOCK_BASE, WORKSPACE


async def serve(ds: Dataset, **config: Any) -> EmbeddedServer:
    server = EmbeddedServer(ServerConfig(access_keys=(ACCESS_KEY,), **config), dataset=ds)
    await server.start()
    return server


@pytest.fixture
async def env(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EmbeddedServer, Client]]:
    ds: Dataset = request.param
    server = await serve(ds)
    try:
        async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
            yield server, client
    finally:
        await server.stop()


def whole(ds: Dataset, client: Client, **kwargs: Any) -> ShardedListing:
    timeline = ds.timeline
    return asyncsdk.iter_call_log(
        client, ds.workspace_id, start_at=timeline.start, end_at=timeline.end, **kwargs
    )


def windows_queried(server: EmbeddedServer) -> set[str]:
    return {m.group(1) for r in server.requests if (m := re.search(r"startAt=([^&]+)", r.query))}


def exactly_once(ids: list[uuid.UUID], ds: Dataset) -> None:
    counts = Counter(ids)
    assert len(ids) == ds.size, f"{len(ids)} calls for {ds.size}"
    assert set(counts) == set(ds.call_ids)
    assert max(counts.values(), default=1) == 1


DATASETS = {
    "even": Dataset(4000, seed=1, span=dt.timedelta(days=2)),
    "skewed": Dataset(6000, seed=2, span=dt.timedelta(days=1), busy_share=0.9),
    "ties": Dataset(4000, seed=3, span=dt.timedelta(milliseconds=400)),  # 10 calls per ms
    "all_tied": Dataset(700, seed=4, span=dt.timedelta(milliseconds=1)),  # one timestamp
}


@pytest.mark.parametrize("env", list(DATASETS.values()), ids=list(DATASETS), indirect=True)
@pytest.mark.parametrize("shards", [1, 3, 8])
async def test_each_call_exactly_once(env: tuple[EmbeddedServer, Client], shards: int) -> None:
    server, client = env
    ds = server.dataset
    listing = whole(ds, client, shards=shards, page_size=100)
    ids = [call.id async for call in listing]
    exactly_once(ids, ds)
    assert listing.done_fraction == 1.0
    assert listing.checkpoint().complete


@pytest.mark.parametrize("env", [DATASETS["skewed"]], indirect=True)
async def test_a_busy_shard_is_split_so_no_shard_idles(env: tuple[EmbeddedServer, Client]) -> None:
    """Most calls in one hour: the shards around it finish at once, the busy one splits."""
    server, client = env
    ds = server.dataset
    ids = [call.id async for call in whole(ds, client, shards=8, page_size=100)]
    exactly_once(ids, ds)
    assert len(windows_queried(server)) > 8  # new shards were made from busy ones
    # Without splitting, one shard would page the busy hour alone: 54+ pages in a row.
    per_window = Counter(
        m.group(1) for r in server.requests if (m := re.search(r"startAt=([^&]+)", r.query))
    )
    assert max(per_window.values()) < 54 // 2


@pytest.mark.parametrize("env", [DATASETS["even"]], indirect=True)
async def test_empty_shards_finish_after_one_request(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    ds = server.dataset
    day = dt.timedelta(days=2)
    listing = asyncsdk.iter_call_log(
        client,
        ds.workspace_id,
        start_at=ds.timeline.start - 3 * day,  # three empty windows before,
        end_at=ds.timeline.end,  # one full one
        shards=4,
        page_size=1000,
    )
    exactly_once([call.id async for call in listing], ds)
    per_window = Counter(
        m.group(1) for r in server.requests if (m := re.search(r"startAt=([^&]+)", r.query))
    )
    assert sorted(per_window.values())[:3] == [1, 1, 1]


@pytest.mark.parametrize("env", [DATASETS["ties"]], indirect=True)
async def test_boundaries_on_equal_timestamps(env: tuple[EmbeddedServer, Client]) -> None:
    """Windows cut exactly at timestamps that ten calls share: none lost, none twice."""
    server, client = env
    ds = server.dataset
    timeline = ds.timeline
    start, end = timeline.created_at(1000), timeline.created_at(3000)  # both shared by 10
    expected = [i for i, c in enumerate(ds.call_ids) if start <= timeline.created_at(i) < end]
    listing = asyncsdk.iter_call_log(
        client, ds.workspace_id, start_at=start, end_at=end, shards=7, page_size=33
    )
    ids = [call.id async for call in listing]
    assert sorted(ids) == sorted(ds.call_ids[i] for i in expected)
    assert len(ids) == len(set(ids)) == 2000


@pytest.mark.parametrize("env", [DATASETS["skewed"]], indirect=True)
@pytest.mark.parametrize("mode", ["pages", "calls"])
async def test_checkpoints_resume_exactly_once(
    env: tuple[EmbeddedServer, Client], mode: str
) -> None:
    """Stopped again and again at random points, resumed each time from a JSON checkpoint."""
    server, client = env
    ds = server.dataset
    rng = random.Random(mode)
    ids: list[uuid.UUID] = []
    checkpoint: ListingCheckpoint | None = None
    rounds = 0
    while checkpoint is None or not checkpoint.complete:
        rounds += 1
        listing = whole(
            ds,
            client,
            shards=rng.randint(1, 8),
            page_size=None if checkpoint else 250,
            resume=checkpoint,
        )
        budget = rng.randint(1, 700)
        async with listing:
            if mode == "pages":
                async for page in listing.pages():
                    ids += [c.id for c in page.results]
                    budget -= len(page.results)
                    if budget <= 0:
                        break
            else:
                async for call in listing:
                    ids.append(call.id)
                    budget -= 1
                    if budget <= 0:
                        break
        checkpoint = ListingCheckpoint.from_json(listing.checkpoint().to_json())
    assert rounds > 5
    exactly_once(ids, ds)


@pytest.mark.parametrize("env", [DATASETS["even"]], indirect=True)
async def test_channel_calls_are_sharded_too(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    ds = server.dataset
    listing = asyncsdk.iter_channel_calls(
        client,
        ds.workspace_id,
        ds.channel_id,
        start_at=ds.timeline.start,
        end_at=ds.timeline.end,
        shards=5,
    )
    exactly_once([call.id async for call in listing], ds)
    assert all("/channels/" + str(ds.channel_id) + "/calls" in r.path for r in server.requests)


async def test_a_failed_page_raises_and_the_checkpoint_still_resumes() -> None:
    ds = Dataset(3000, seed=6, span=dt.timedelta(hours=3))
    server = await serve(ds, faults=Faults(error_500=0.08), seed=3)
    ids: list[uuid.UUID] = []
    try:
        async with Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=0) as client:
            checkpoint = None
            failures = 0
            while checkpoint is None or not checkpoint.complete:
                listing = whole(ds, client, shards=4, page_size=100, resume=checkpoint)
                try:
                    async for page in listing.pages():
                        ids += [c.id for c in page.results]
                except ServerError:
                    failures += 1
                assert asyncio.all_tasks() - {asyncio.current_task()} <= {
                    t for t in asyncio.all_tasks() if "RequestHandler" in repr(t.get_coro())
                }
                checkpoint = listing.checkpoint()
    finally:
        await server.stop()
    assert failures > 0
    exactly_once(ids, ds)


@pytest.mark.parametrize("env", [DATASETS["even"]], indirect=True)
async def test_leaving_early_cancels_every_shard(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    async with whole(server.dataset, client, shards=8, page_size=10) as listing:
        async for _ in listing:
            break
    fetching = [t for t in asyncio.all_tasks() if "_fetch_page" in repr(t.get_coro())]
    assert fetching == []
    assert 0.0 <= listing.done_fraction < 1.0
    assert len(listing.shards) == 8
    with pytest.raises(RuntimeError, match="iterated once"):
        aiter(listing)


# --- what is refused, before any request -------------------------------------------------


def test_bad_arguments_are_refused_before_any_request(mock_api: MockAPI) -> None:
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"start_at": None}, ConfigurationError, "start_at is required"),
        ({"end_at": None}, ConfigurationError, "end_at is required"),
        ({"shards": 0}, ConfigurationError, "shards must be"),
        ({"shards": "8"}, ConfigurationError, "shards must be"),
        ({"start_at": end, "end_at": start}, ConfigurationError, "start_at must be before"),
        ({"start_at": start.replace(tzinfo=None)}, ConfigurationError, "timezone-aware"),
        ({"page_size": 5000}, ConfigurationError, "page_size"),
        ({"status": []}, ConfigurationError, "status is empty"),
        ({"channel_ids": "x"}, InvalidIDError, "channel_ids"),
        ({"resume": {"shards": []}}, ConfigurationError, "resume must be a ListingCheckpoint"),
    ]
    for kwargs, error, message in cases:
        arguments = {"start_at": start, "end_at": end, **kwargs}
        with pytest.raises(error, match=message):
            asyncsdk.iter_call_log(client, WORKSPACE, **arguments)
    with pytest.raises(InvalidIDError, match="channel_id"):
        asyncsdk.iter_channel_calls(client, WORKSPACE, "nope", start_at=start, end_at=end)
    assert mock_api.sent == []


def test_a_checkpoint_of_another_listing_is_refused(mock_api: MockAPI) -> None:
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    checkpoint = asyncsdk.iter_call_log(
        client, WORKSPACE, start_at=start, end_at=end, status="busy", page_size=100
    ).checkpoint()
    assert len(checkpoint.shards) == asyncsdk.DEFAULT_SHARDS
    for other in ({"status": "completed"}, {"end_at": end + dt.timedelta(hours=1)}):
        arguments: dict[str, Any] = {"start_at": start, "end_at": end, "status": "busy", **other}
        with pytest.raises(ConfigurationError, match="another listing"):
            asyncsdk.iter_call_log(client, WORKSPACE, resume=checkpoint, **arguments)
    # A checkpoint names calls, not places in pages: another page size resumes it.
    smaller = asyncsdk.iter_call_log(
        client,
        WORKSPACE,
        start_at=start,
        end_at=end,
        status="busy",
        page_size=50,
        resume=checkpoint,
    )
    assert smaller.checkpoint().page_size == 50
    assert smaller.checkpoint().shards == checkpoint.shards
    same = asyncsdk.iter_call_log(
        client, WORKSPACE, start_at=start, end_at=end, status="busy", resume=checkpoint
    )
    assert same.checkpoint() == checkpoint
    with pytest.raises(ConfigurationError, match="not a listing checkpoint"):
        ListingCheckpoint.from_json(b'{"query": 1}')
    assert mock_api.sent == []


# --- what the API must not do ------------------------------------------------------------

LOG = re.compile(r"^https://api\.bird\.test/workspaces/.*/channels/calls.*$")


def listed(*calls: dict[str, Any]) -> bytes:
    return json.dumps({"results": list(calls)}).encode()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            listed(
                {"id": str(uuid.uuid4()), "createdAt": "2026-10-02T01:00:00Z"},
                {"id": str(uuid.uuid4()), "createdAt": "2026-10-02T02:00:00Z"},
            ),
            "$.results[1].createdAt",
        ),
        (listed({"id": str(uuid.uuid4())}), "$.results[0].createdAt"),
    ],
    ids=["out of order", "no createdAt"],
)
async def test_a_page_the_listing_cannot_place_is_a_decode_error(
    mock_api: MockAPI, mock_client: Client, body: bytes, path: str
) -> None:
    """Out of newest-first order, or without createdAt: raised, never silently dropped."""
    mock_api.get(LOG, body=body, repeat=True)
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    listing = asyncsdk.iter_call_log(
        mock_client, WORKSPACE, start_at=start, end_at=start + dt.timedelta(days=1), shards=1
    )
    with pytest.raises(DecodeError) as caught:
        async for _ in listing:
            pass
    assert caught.value.path == path


# --- review: what a caller may hand in ---------------------------------------------------


def test_an_impossible_checkpoint_is_refused_before_any_request(mock_api: MockAPI) -> None:
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    good = asyncsdk.iter_call_log(client, WORKSPACE, start_at=start, end_at=end).checkpoint()
    first, second = good.shards[0], good.shards[1]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"page_size": 0}, "page_?[sS]ize"),
        ({"shards": [msgspec.structs.replace(first, end=start)]}, "not inside the listing"),
        (
            {"shards": [msgspec.structs.replace(first, end=end + dt.timedelta(hours=1))]},
            "not inside the listing",
        ),
        ({"shards": [msgspec.structs.replace(first, seen=-1)]}, "seen must be 0"),
        ({"shards": [msgspec.structs.replace(first, after=first.end)]}, "after must be"),
        ({"shards": [msgspec.structs.replace(first, after=first.start)]}, "after must be"),
        ({"shards": [msgspec.structs.replace(first, after_ids=(WORKSPACE,))]}, "without after"),
        (
            {"shards": [first, msgspec.structs.replace(second, start=first.start)]},
            "overlap",
        ),
        (
            {
                "shards": [
                    msgspec.structs.replace(
                        first, after=start.replace(tzinfo=None), after_ids=(WORKSPACE,)
                    )
                ]
            },
            "no time zone",
        ),
        ({"version": 1}, "version 1 .* counted positions in pages"),
        ({"version": 3}, "version 3 is not supported"),
    ]
    for change, message in cases:
        bad = msgspec.structs.replace(good, **change)
        with pytest.raises(ConfigurationError, match=message):
            asyncsdk.iter_call_log(client, WORKSPACE, start_at=start, end_at=end, resume=bad)
        with pytest.raises(ConfigurationError, match=message):
            ListingCheckpoint.from_json(bad.to_json())
    naive = good.to_json().replace(b"Z", b"")
    with pytest.raises(ConfigurationError, match="no time zone"):
        ListingCheckpoint.from_json(naive)
    assert mock_api.sent == []


@pytest.mark.parametrize("env", [DATASETS["even"]], ids=["even"], indirect=True)
async def test_filters_are_read_once_when_the_listing_is_made(
    env: tuple[EmbeddedServer, Client],
) -> None:
    """A generator is not spent by the first shard; a list changed later changes nothing."""
    server, client = env
    ds = server.dataset
    calls = [call for i in ds.call_ids if (call := ds.call(i)) is not None]
    statuses = sorted({call.status for call in calls if call.status is not None})
    later = sorted({call.direction for call in calls if call.direction is not None})
    expected = {call.id for call in calls if call.status and call.direction}
    listing = whole(ds, client, shards=4, status=(s for s in statuses), direction=later)
    later.clear()
    ids = [call.id async for call in listing]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert all("direction=" in r.query for r in server.requests)


async def test_a_shard_that_cannot_start_fails_the_listing_instead_of_hanging() -> None:
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)

    def make_pager(**window: Any) -> asyncsdk.CallPager:
        raise ConfigurationError("no pager for this window")

    listing = ShardedListing(
        make_pager,
        fingerprint="x",
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        shards=4,
        page_size=10,
        resume=None,
    )

    async def drain() -> None:
        async for _ in listing:
            pass

    with pytest.raises(ConfigurationError, match="no pager"):
        await asyncio.wait_for(drain(), 30)


async def test_a_page_past_the_window_end_splits_nothing_it_cannot_resume() -> None:
    """With an inclusive ``endAt`` a page may hold only calls past the window's end."""
    ms = dt.timedelta(milliseconds=1)
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    end = start + ms

    class Pager:
        def __init__(self, **window: Any) -> None:
            self.window = window

        async def pages(self) -> AsyncIterator[asyncsdk.CallPage]:
            at = self.window["end_at"]
            calls = [asyncsdk.Call(id=uuid.uuid4(), created_at=at) for _ in range(2)]
            yield asyncsdk.CallPage(results=calls, next_page_token="t1")
            await asyncio.sleep(3600)

    listing = ShardedListing(
        Pager,  # type: ignore[arg-type]  # what the listing uses of a CallPager
        fingerprint="x",
        start_at=start,
        end_at=end,
        shards=2,
        page_size=2,
        resume=None,
    )
    async with listing:
        async for page in listing.pages():
            assert page.results == []
            break
    checkpoint = listing.checkpoint()
    assert ListingCheckpoint.from_json(checkpoint.to_json()) == checkpoint


async def test_a_resumed_shard_never_splits_off_what_it_handed_over() -> None:
    """Its first pages may hold only calls newer than ``after``: no cut goes above it."""
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    end = start + dt.timedelta(seconds=10)
    after = start + dt.timedelta(seconds=5, milliseconds=500)
    handed = uuid.uuid4()

    class Pager:
        def __init__(self, **window: Any) -> None:
            self.window = window

        async def pages(self) -> AsyncIterator[asyncsdk.CallPage]:
            at = self.window["end_at"]  # an inclusive endAt: calls at the bound itself
            calls = [asyncsdk.Call(id=uuid.uuid4(), created_at=at) for _ in range(2)]
            yield asyncsdk.CallPage(results=calls, next_page_token="t1")
            await asyncio.sleep(3600)

    checkpoint = ListingCheckpoint(
        query="x",
        start_at=start,
        end_at=end,
        page_size=2,
        shards=[
            asyncsdk.ShardCheckpoint(start=start, end=end, after=after, after_ids=(handed,), seen=1)
        ],
    )
    listing = ShardedListing(
        Pager,  # type: ignore[arg-type]  # what the listing uses of a CallPager
        fingerprint="x",
        start_at=start,
        end_at=end,
        shards=16,  # room for a cut at every whole second
        page_size=2,
        resume=checkpoint,
    )
    async with listing:
        async for page in listing.pages():
            assert page.results == []  # newer than after: handed over before
            break
    shards = listing.checkpoint().shards
    assert len(shards) > 1  # it did split
    for shard in shards:
        if shard.after is None:
            assert shard.end <= after, "a new shard would list handed-over calls again"
    ListingCheckpoint.from_json(listing.checkpoint().to_json())


def test_a_checkpoint_that_counted_positions_is_refused_with_what_to_do(
    mock_api: MockAPI,
) -> None:
    """Version 1 counted calls of a page (``skip``): resuming it on a live workspace
    repeated some calls and lost others, so it is refused, before any request."""
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    query = asyncsdk.iter_call_log(client, WORKSPACE, start_at=start, end_at=end)
    old = {
        "query": query.checkpoint().query,
        "startAt": "2026-10-02T00:00:00Z",
        "endAt": "2026-10-03T00:00:00Z",
        "pageSize": 1000,
        "shards": [
            {
                "queryStart": "2026-10-02T00:00:00Z",
                "start": "2026-10-02T00:00:00Z",
                "end": "2026-10-03T00:00:00Z",
                "pageToken": None,
                "skip": 40,
                "cursor": "2026-10-02T23:00:00Z",
                "seen": 40,
            }
        ],
        "version": 1,
    }
    data = json.dumps(old).encode()
    with pytest.raises(ConfigurationError, match="Start the listing again"):
        ListingCheckpoint.from_json(data)
    # Decoded as part of a larger document (as `asyncsdk export` does): refused on resume.
    decoded = msgspec.json.decode(data, type=ListingCheckpoint)
    with pytest.raises(ConfigurationError, match="version 1"):
        asyncsdk.iter_call_log(client, WORKSPACE, start_at=start, end_at=end, resume=decoded)
    assert mock_api.sent == []


def test_one_value_filters_keep_their_own_errors(mock_api: MockAPI) -> None:
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    start = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    with pytest.raises(ConfigurationError, match="from_ must be a string, got bytes"):
        asyncsdk.iter_call_log(client, WORKSPACE, start_at=start, end_at=end, from_=b"+31")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="tags must be a string or an iterable"):
        asyncsdk.iter_call_log(client, WORKSPACE, start_at=start, end_at=end, tags=5)  # type: ignore[arg-type]
    listing = asyncsdk.iter_call_log(
        client, WORKSPACE, start_at=start, end_at=end, channel_ids=uuid.UUID(int=7)
    )
    assert listing.checkpoint().shards
    assert mock_api.sent == []


@pytest.mark.parametrize("env", [DATASETS["even"]], ids=["even"], indirect=True)
async def test_a_window_from_the_beginning_of_time_to_the_end(
    env: tuple[EmbeddedServer, Client],
) -> None:
    """``datetime.min`` to ``datetime.max``: four-digit years, no overflow at either end."""
    server, client = env
    ds = server.dataset
    listing = asyncsdk.iter_call_log(
        client,
        ds.workspace_id,
        start_at=dt.datetime.min.replace(tzinfo=dt.UTC),
        end_at=dt.datetime.max.replace(tzinfo=dt.UTC),
        shards=8,
    )
    exactly_once([call.id async for call in listing], ds)
    assert any("startAt=0001-01-01T00:00:00Z" in r.query for r in server.requests)
