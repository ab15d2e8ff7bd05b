"""Sharded listings at the edges: splits, bounds, checkpoints, how createdAt is written.

The first three guard fixes (each failed before): a split that left a shard an empty
window (a checkpoint that could not be resumed, and shards splitting without end), a
checkpoint whose last call handed over is written in a time zone near the end of the
calendar, and an API whose page tokens count the calls served when more calls than a
page are created while a shard pages. The rest try what the reference leaves open:
createdAt in other zones, tied calls in another order per query, nanoseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yarl
from aioresponses import CallbackResult

import asyncsdk
from asyncsdk import Client, ListingCheckpoint
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from ._aioresponses_compat import CompatClientResponse, MockAPI
from ._support import ACCESS_KEY, WORKSPACE

#: 1,200 calls in 40 ms: 30 calls share each createdAt, the first ones the dataset's start.
TIED = Dataset(1200, seed=23, span=dt.timedelta(milliseconds=40))
#: One call every 50 ms over 30 s.
SPREAD = Dataset(600, seed=21, span=dt.timedelta(seconds=30))
SECOND = dt.timedelta(seconds=1)


@pytest.mark.parametrize("end_inclusive", [True, False], ids=["end-in", "end-ex"])
async def test_a_window_ending_where_calls_are_packed_finishes_and_checkpoints(
    end_inclusive: bool,
) -> None:
    """``[T - 1 s, T)`` with 30 calls at ``T``: an inclusive ``endAt`` serves them, pages
    of calls all past the window look busy, and no cut may leave a shard ``[T, T)``."""
    ds = TIED
    end = ds.timeline.start  # a whole second, where the first 30 calls were created
    config = ServerConfig(access_keys=(ACCESS_KEY,), end_inclusive=end_inclusive)
    pages = 0
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        listing = asyncsdk.iter_call_log(
            client, ds.workspace_id, start_at=end - SECOND, end_at=end, shards=2, page_size=7
        )
        async with listing:
            async for page in listing.pages():
                pages += 1
                assert page.results == []
                checkpoint = listing.checkpoint()
                assert ListingCheckpoint.from_json(checkpoint.to_json()) == checkpoint
                assert pages < 50, "the shards keep splitting"  # 30 calls: 5 pages of 7
    assert listing.checkpoint().complete


async def test_a_checkpoint_in_another_time_zone_at_the_end_of_the_calendar_resumes() -> None:
    """``after`` is any aware time; written at ``+01:00`` late on 9999-12-31, the second
    past it in its own zone is not a date, in UTC it is."""
    ds = SPREAD
    start, end = ds.timeline.start, dt.datetime.max.replace(tzinfo=dt.UTC)
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        fresh = asyncsdk.iter_call_log(
            client, ds.workspace_id, start_at=start, end_at=end, shards=1
        )
        saved = json.loads(fresh.checkpoint().to_json())
        saved["shards"][0]["after"] = "9999-12-31T23:59:59.500000+01:00"
        saved["shards"][0]["afterIds"] = [str(uuid.uuid4())]
        resume = ListingCheckpoint.from_json(json.dumps(saved))
        listing = asyncsdk.iter_call_log(
            client, ds.workspace_id, start_at=start, end_at=end, shards=1, resume=resume
        )
        ids = [call.id async for call in listing]
    assert Counter(ids) == Counter(ds.call_ids)


@pytest.mark.parametrize("shards", [1, 3])
async def test_more_new_calls_than_a_page_while_tokens_count_the_calls_served(
    shards: int,
) -> None:
    """20 calls created at the top after the first page, pages of 7, tokens that count:
    the next pages serve new calls and calls of pages before the previous one again.
    Those are calls the shard has passed; the listing goes on, each call once."""
    ds = SPREAD
    ids = list(ds.call_ids)
    new = set(ids[-20:])
    config = ServerConfig(
        access_keys=(ACCESS_KEY,), unlisted=frozenset(new), unlisted_until=2, offset_tokens=True
    )
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        listing = asyncsdk.iter_call_log(
            client,
            ds.workspace_id,
            start_at=ds.timeline.start,
            end_at=ds.timeline.end,
            shards=shards,
            page_size=7,
        )
        listed = [call.id async for call in listing]
    assert Counter(listed).most_common(1)[0][1] == 1, "a call was listed twice"
    assert set(ids) - new <= set(listed)


#: Zones the API might write ``createdAt`` in, instead of ``Z``.
ZONES = [dt.timezone(dt.timedelta(hours=h, minutes=m)) for h, m in ((5, 30), (-3, 0), (0, 0))]


def _api(calls: list[asyncsdk.Call], page_size: int) -> type:
    """A list endpoint over ``calls`` reading both bounds inclusively, newest first.

    Calls of one createdAt come in another order for each query (the reference says
    nothing of it), the same through that query's pages.
    """
    rng = random.Random(7)

    class Pager:
        def __init__(self, *, start_at: dt.datetime, end_at: dt.datetime, page_size: int) -> None:
            inside = [c for c in calls if start_at <= c.created_at <= end_at]  # type: ignore[operator]
            rng.shuffle(inside)
            self.found = sorted(inside, key=lambda c: c.created_at, reverse=True)  # type: ignore[arg-type,return-value]

        async def pages(self) -> AsyncIterator[asyncsdk.CallPage]:
            for i in range(0, max(len(self.found), 1), size):
                more = i + size < len(self.found)
                yield asyncsdk.CallPage(
                    results=self.found[i : i + size], next_page_token=f"p{i}" if more else None
                )

    size = page_size
    return Pager


@pytest.mark.parametrize("stop", [1, 5, 13, 29])
async def test_created_at_in_other_time_zones_lists_and_resumes_each_call_once(stop: int) -> None:
    """Calls on both sides of a cut, several per instant, each written in its own zone."""
    cut = dt.datetime(2026, 10, 2, 9, 0, 2, tzinfo=dt.UTC)
    offsets_ms = [-1500, -1000, -1, -1, 0, 0, 0, 1, 999, 1000, 1000, 1500]
    calls = [
        asyncsdk.Call(
            id=uuid.uuid4(),
            created_at=(cut + dt.timedelta(milliseconds=ms)).astimezone(ZONES[n % len(ZONES)]),
        )
        for n, ms in enumerate(offsets_ms * 3)
    ]
    start, end = cut - 2 * SECOND, cut + 2 * SECOND

    def listing(resume: ListingCheckpoint | None) -> asyncsdk.ShardedListing:
        return asyncsdk.ShardedListing(
            _api(calls, page_size=4),
            fingerprint="x",
            start_at=start,
            end_at=end,
            shards=2,
            page_size=4,
            resume=resume,
        )

    first = listing(None)
    taken: list[uuid.UUID] = []
    async with first:
        async for call in first:  # a call yielded counts as handed over
            taken.append(call.id)
            if len(taken) == stop:
                break
    saved = ListingCheckpoint.from_json(first.checkpoint().to_json())
    rest = [call.id async for call in listing(saved)]
    assert Counter(taken + rest) == Counter(c.id for c in calls if start <= c.created_at < end)  # type: ignore[operator]


#: createdAt as an API might write it with nanoseconds, around a cut at 09:00:02Z.
NANOS = [
    "2026-10-02T09:00:01.999999400Z",  # decodes to 09:00:01.999999
    "2026-10-02T09:00:01.999999600Z",  # decodes to 09:00:02: the next shard's
    "2026-10-02T10:00:01.999999999+01:00",
    "2026-10-02T09:00:02.000000000Z",
    "2026-10-02T09:00:02.000000001Z",
    "2026-10-02T09:00:03.999999700Z",  # decodes to 09:00:04, the window's end
]


def _nanos(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to nine digits."""
    head, _, rest = text.partition(".")
    zone = rest.lstrip("0123456789")
    digits = rest[: len(rest) - len(zone)]
    whole = dt.datetime.fromisoformat(head + zone)
    return int(whole.timestamp()) * 10**9 + int(digits.ljust(9, "0"))


@pytest.mark.parametrize("shards", [1, 2])
async def test_created_at_finer_than_a_microsecond_is_listed_once(
    mock_api: MockAPI, mock_client: Client, shards: int
) -> None:
    """The SDK reads createdAt to the microsecond, rounding; an API reading bounds to
    the nanosecond (inclusive) serves a call a microsecond's rounding moves across a
    cut: the second of margin around each shard's window keeps it in some query."""
    calls = [(str(uuid.uuid4()), text) for text in NANOS]
    calls.sort(key=lambda c: _nanos(c[1]), reverse=True)

    def answer(url: yarl.URL, **_: Any) -> CallbackResult:
        low, high = (_nanos(url.query[name]) for name in ("startAt", "endAt"))
        found = [{"id": i, "createdAt": t} for i, t in calls if low <= _nanos(t) <= high]
        return CallbackResult(
            body=json.dumps({"results": found}), response_class=CompatClientResponse
        )

    mock_api.get(re.compile(r"^https://api\.bird\.test/.*calls.*$"), callback=answer, repeat=True)
    start = dt.datetime(2026, 10, 2, 9, 0, tzinfo=dt.UTC)
    listing = asyncsdk.iter_call_log(
        mock_client, WORKSPACE, start_at=start, end_at=start + 4 * SECOND, shards=shards
    )
    listed = Counter([str(call.id) async for call in listing])
    assert listed == Counter(i for i, t in calls if not t.startswith("2026-10-02T09:00:03.9"))
