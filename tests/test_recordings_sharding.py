"""`iter_recordings`: the recordings of a window, sharded, each exactly once, resumable.

The same evidence as the calls' sharded listings (``test_sharding_precision.py``,
``test_sharding_live.py``, ``test_sharding_property.py``), against the embedded
server's recordings list: every precision and bound convention of ``startAt`` /
``endAt``, listings stopped anywhere and resumed from a checkpoint through JSON, on a
workspace where recordings appear between stop and resume; and a checkpoint resumes
only the kind of listing that wrote it.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest

import asyncsdk
from asyncsdk import (
    Client,
    ConfigurationError,
    InvalidIDError,
    ListingCheckpoint,
    Recording,
    RecordingListing,
    RecordingPage,
)
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from ._support import ACCESS_KEY

#: 3,000 calls over 4 s: ties on createdAt, and busy seconds no split can share out.
PACKED = Dataset(3000, seed=11, span=dt.timedelta(seconds=4))
#: One call every 10 ms over 6 s.
SPREAD = Dataset(600, seed=12, span=dt.timedelta(seconds=6))
#: 20 calls per millisecond: a checkpoint lands among recordings of one createdAt.
TIED = Dataset(1000, seed=13, span=dt.timedelta(milliseconds=50))
US = dt.timedelta(microseconds=1)
WINDOW = re.compile(r"startAt=([^&]+)&endAt=([^&]+)")
WHOLE_SECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@asynccontextmanager
async def workspace(
    ds: Dataset, unlisted: Iterable[uuid.UUID] = (), **config: Any
) -> AsyncIterator[tuple[EmbeddedServer, Client]]:
    """A client of a server over ``ds`` where ``unlisted`` calls (and so their recordings)
    are not created yet."""
    settings = ServerConfig(access_keys=(ACCESS_KEY,), unlisted=frozenset(unlisted), **config)
    async with (
        EmbeddedServer(settings, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        yield server, client


def recordings_in(
    server: EmbeddedServer, start: dt.datetime, end: dt.datetime, skip: Iterable[int] = ()
) -> dict[uuid.UUID, dt.datetime]:
    """The recordings the workspace lists in ``[start, end)``, with their createdAt."""
    ds, recs, skipped = server.dataset, server.recordings, set(skip)
    found = {}
    for i in range(ds.size):
        created = ds.timeline.created_at(i)
        if start <= created < end and not recs.active(i) and i not in skipped:
            found[recs.recording_id(i)] = created
    return found


def whole(client: Client, ds: Dataset, **kwargs: Any) -> RecordingListing:
    timeline = ds.timeline
    return asyncsdk.iter_recordings(
        client, ds.workspace_id, start_at=timeline.start, end_at=timeline.end, **kwargs
    )


# --- every precision and bound convention ------------------------------------------------


@pytest.mark.parametrize("precision", ["second", "millisecond", "microsecond"])
@pytest.mark.parametrize("start_inclusive", [True, False], ids=["start-in", "start-ex"])
@pytest.mark.parametrize("end_inclusive", [True, False], ids=["end-in", "end-ex"])
async def test_every_precision_and_bound_convention_lists_each_recording_once(
    precision: str, start_inclusive: bool, end_inclusive: bool
) -> None:
    ds = PACKED
    early = ds.timeline.start - dt.timedelta(seconds=4)
    windows = [
        (early + 250 * US, ds.timeline.created_at(2850) + 250 * US),
        (early, ds.timeline.end),
    ]
    async with workspace(
        ds,
        time_precision=precision,
        start_inclusive=start_inclusive,
        end_inclusive=end_inclusive,
        record_requests=True,
    ) as (server, client):
        for start, end in windows:
            expected = recordings_in(server, start, end)
            before = len(server.requests)
            listing = asyncsdk.iter_recordings(
                client, ds.workspace_id, start_at=start, end_at=end, shards=3
            )
            items = [r async for r in listing]
            assert all(isinstance(r, Recording) for r in items)
            ids = [r.id for r in items]
            assert Counter(ids).most_common(1)[0][1] == 1, "a recording was listed twice"
            assert set(ids) == set(expected), f"{len(set(expected) - set(ids))} lost"
            asked = [r.query for r in server.requests[before:] if "/recordings" in r.path]
            windows_asked = {m.groups() for q in asked if (m := WINDOW.search(q)) is not None}
            assert len(windows_asked) > 3  # busy shards split, at whole seconds
            assert all(WHOLE_SECOND.fullmatch(b) for w in windows_asked for b in w)
            assert all("limit=99" in q for q in asked)  # the default: the API's maximum
            assert listing.checkpoint().complete


# --- stopped and resumed ----------------------------------------------------------------


async def stop_after(
    listing: RecordingListing, count: int, *, mode: str
) -> tuple[list[uuid.UUID], ListingCheckpoint]:
    """Take ``count`` recordings (whole pages in ``pages`` mode), stop, return the checkpoint."""
    handed: list[uuid.UUID] = []
    async with listing:
        if mode == "pages":
            async for page in listing.pages():
                assert isinstance(page, RecordingPage)
                handed += [r.id for r in page.results]
                if len(handed) >= count:
                    break
        else:
            async for recording in listing:
                handed.append(recording.id)
                if len(handed) >= count:
                    break
    return handed, ListingCheckpoint.from_json(listing.checkpoint().to_json())


def still_to_come(
    created: dict[uuid.UUID, dt.datetime], checkpoint: ListingCheckpoint, handed: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Every recording (new ones too) an unfinished shard has not passed yet."""
    expected: set[uuid.UUID] = set()
    for shard in checkpoint.shards:
        inside = [r for r, at in created.items() if shard.start <= at < shard.end]
        mine = [r for r in handed if shard.start <= created[r] < shard.end]
        if not mine:
            expected.update(inside)
            continue
        oldest = min(created[r] for r in mine)
        expected.update(
            r for r in inside if created[r] < oldest or (created[r] == oldest and r not in mine)
        )
    return expected


@pytest.mark.parametrize("ds", [SPREAD, TIED], ids=["spread", "tied"])
@pytest.mark.parametrize("mode", ["items", "pages"])
@pytest.mark.parametrize("seed", range(2))
async def test_stopped_anywhere_with_recordings_made_everywhere(
    ds: Dataset, mode: str, seed: int
) -> None:
    """Stop, add recordings all over the window, resume: each once, the new ones in place."""
    rng = random.Random(seed)
    new_calls = set(rng.sample(ds.call_ids, len(ds.call_ids) // 8))
    new = {ds.index(c) for c in new_calls}
    async with workspace(ds, unlisted=new_calls) as (server, client):
        before = recordings_in(server, ds.timeline.start, ds.timeline.end, skip=new)  # type: ignore[arg-type]
        stop = rng.randrange(1, len(before) - 1)
        handed, checkpoint = await stop_after(
            whole(client, ds, shards=rng.choice([1, 3, 8]), page_size=rng.choice([7, 50, 99])),
            stop,
            mode=mode,
        )
    assert checkpoint.listing == "recordings"
    async with workspace(ds) as (server, client):
        everything_now = recordings_in(server, ds.timeline.start, ds.timeline.end)
        resumed = [r.id async for r in whole(client, ds, shards=3, resume=checkpoint)]
    everything = handed + resumed
    assert Counter(everything).most_common(1)[0][1] == 1, "a recording was listed twice"
    assert set(before) <= set(everything), f"{len(set(before) - set(everything))} lost"
    assert set(resumed) == still_to_come(everything_now, checkpoint, handed)


@pytest.mark.parametrize("seed", range(3))
async def test_stopped_and_resumed_again_and_again(seed: int) -> None:
    """Random windows, shard counts and stops: the pieces add up to the window, each once."""
    rng = random.Random(100 + seed)
    ds = SPREAD
    span = ds.timeline.end - ds.timeline.start
    start = ds.timeline.start + span * rng.random() / 3 - dt.timedelta(seconds=1)
    end = start + span * (0.3 + rng.random() * 0.7)
    async with workspace(ds) as (server, client):
        expected = recordings_in(server, start, end)
        handed: list[uuid.UUID] = []
        checkpoint: ListingCheckpoint | None = None
        for _ in range(40):  # bounded: each round hands over at least one recording
            listing = asyncsdk.iter_recordings(
                client,
                ds.workspace_id,
                start_at=start,
                end_at=end,
                shards=rng.choice([1, 2, 5]),
                page_size=rng.choice([3, 20, 99]),
                resume=checkpoint,
            )
            taken, checkpoint = await stop_after(listing, rng.randrange(1, 40), mode="items")
            handed += taken
            if checkpoint.complete:
                break
        assert checkpoint is not None and checkpoint.complete
    assert Counter(handed).most_common(1)[0][1] == 1
    assert set(handed) == set(expected)


# --- a checkpoint belongs to one kind of listing --------------------------------------------


async def test_a_calls_checkpoint_does_not_resume_a_recordings_listing() -> None:
    ds = SPREAD
    async with workspace(ds) as (_server, client):
        t = ds.timeline
        calls = asyncsdk.iter_call_log(client, ds.workspace_id, start_at=t.start, end_at=t.end)
        _, calls_checkpoint = await stop_after(calls, 5, mode="items")  # type: ignore[arg-type]
        assert calls_checkpoint.listing == "calls"
        with pytest.raises(ConfigurationError, match="listing of calls, not of recordings"):
            whole(client, ds, resume=calls_checkpoint)
        _, rec_checkpoint = await stop_after(whole(client, ds), 5, mode="items")
        with pytest.raises(ConfigurationError, match="listing of recordings, not of calls"):
            asyncsdk.iter_call_log(
                client, ds.workspace_id, start_at=t.start, end_at=t.end, resume=rec_checkpoint
            )
        # Another filter: the fingerprint differs.
        with pytest.raises(ConfigurationError, match="another listing"):
            whole(client, ds, resume=rec_checkpoint, status="available")


def test_checkpoint_kinds_and_page_sizes_are_checked() -> None:
    base = {
        "query": "q",
        "startAt": "2026-10-02T00:00:00Z",
        "endAt": "2026-10-03T00:00:00Z",
        "pageSize": 99,
        "shards": [],
    }
    # Written before recordings were listed: no "listing" key, a calls listing's.
    assert ListingCheckpoint.from_json(msgspec.json.encode(base)).listing == "calls"
    assert ListingCheckpoint.from_json(msgspec.json.encode({**base, "listing": "recordings"}))
    with pytest.raises(ConfigurationError, match="pageSize must be 1 to 99"):
        ListingCheckpoint.from_json(
            msgspec.json.encode({**base, "listing": "recordings", "pageSize": 100})
        )
    with pytest.raises(ConfigurationError, match="listing must be one of"):
        ListingCheckpoint.from_json(msgspec.json.encode({**base, "listing": "faxes"}))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"page_size": 100}, ConfigurationError, "page_size must be an int from 1 to 99"),
        ({"page_size": 0}, ConfigurationError, "from 1 to 99"),
        ({"shards": 0}, ConfigurationError, "shards must be"),
        ({"start_at": None}, ConfigurationError, "start_at is required"),
        ({"end_at": dt.datetime(2026, 1, 1)}, ConfigurationError, "timezone-aware"),
        ({"source_id": "x"}, InvalidIDError, "source_id"),
        ({"channel_id": 7}, InvalidIDError, "channel_id"),
        ({"status": []}, ConfigurationError, "status is empty"),
        ({"resume": {"query": "q"}}, ConfigurationError, "resume must be a ListingCheckpoint"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    ds = SPREAD
    async with workspace(ds) as (server, client):
        args: dict[str, Any] = {"start_at": ds.timeline.start, "end_at": ds.timeline.end}
        args.update(kwargs)
        with pytest.raises(error, match=match):
            asyncsdk.iter_recordings(client, ds.workspace_id, **args)
        with pytest.raises(InvalidIDError, match="workspace_id"):
            asyncsdk.iter_recordings(
                client, "nope", start_at=ds.timeline.start, end_at=ds.timeline.end
            )
        assert server.stats.requests == 0


async def test_filters_reach_every_shard_and_the_fingerprint() -> None:
    """A filtered sharded listing lists exactly the filtered recordings, each once."""
    ds = SPREAD
    async with workspace(ds, record_requests=True) as (server, client):
        recs = server.recordings
        expected = {
            recs.recording_id(i)
            for i in range(ds.size)
            if not recs.active(i) and recs.status(i) == "available"
        }
        statuses = ["available"]
        listing = whole(client, ds, shards=4, page_size=20, status=statuses)
        statuses.append("failed")  # changed after the call: the listing keeps what it was given
        ids = [r.id async for r in listing]
        assert Counter(ids).most_common(1)[0][1] == 1
        assert set(ids) == expected
        asked = [r.query for r in server.requests if r.path.endswith("/recordings")]
        assert asked and all("status=available" in q and "failed" not in q for q in asked)


@pytest.mark.parametrize("offset_tokens", [True, False], ids=["offset-tokens", "key-tokens"])
@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("appear_at", [2, 5])
async def test_recordings_created_while_the_listing_runs(
    offset_tokens: bool, shards: int, appear_at: int
) -> None:
    """New recordings at the top while pages are fetched: an API whose tokens count the
    recordings served before then repeats some in the next page; none is listed twice."""
    ds = SPREAD
    calls = list(ds.call_ids)
    new_calls = set(calls[-12:]) | set(random.Random(appear_at).sample(calls[:-12], 6))
    new = {ds.index(c) for c in new_calls}
    async with workspace(
        ds, unlisted=new_calls, unlisted_until=appear_at, offset_tokens=offset_tokens
    ) as (server, client):
        everything = recordings_in(server, ds.timeline.start, ds.timeline.end)
        before = recordings_in(server, ds.timeline.start, ds.timeline.end, skip=new)  # type: ignore[arg-type]
        listed = [r.id async for r in whole(client, ds, shards=shards, page_size=30)]
    assert Counter(listed).most_common(1)[0][1] == 1, "a recording was listed twice"
    assert set(before) <= set(listed), f"{len(set(before) - set(listed))} recordings lost"
    assert set(listed) <= set(everything)
