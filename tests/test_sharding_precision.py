"""Sharded listings against servers that read the window differently: each call once.

Bird's reference does not say how finely ``startAt``/``endAt`` are read, nor whether
each bound is inclusive. The embedded server is switched through every combination,
with many calls packed into few seconds so that shards split and pages are cut inside
a second; every listing must still hold every call of its window exactly once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import pytest

import asyncsdk
from asyncsdk import Client, ShardedListing
from asyncsdk.listing._windows import even_cuts, query_window, split_cuts
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from ._support import ACCESS_KEY

#: 6,000 calls over 4 s: 1.5 calls per millisecond (ties on createdAt), and 15 pages of
#: 100 per second, which no split can share out: a shard pages through a busy second.
PACKED = Dataset(6000, seed=11, span=dt.timedelta(seconds=4))
SHARDS = 3  # at whole seconds: [-4, -1) is empty, [-1, 1) and [1, 4) split into its slot
US = dt.timedelta(microseconds=1)
WINDOW = re.compile(r"startAt=([^&]+)&endAt=([^&]+)")
WHOLE_SECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def listing_of(
    endpoint: str, client: Client, ds: Dataset, start: dt.datetime, end: dt.datetime, **kw: Any
) -> ShardedListing:
    if endpoint == "log":
        return asyncsdk.iter_call_log(client, ds.workspace_id, start_at=start, end_at=end, **kw)
    return asyncsdk.iter_channel_calls(
        client, ds.workspace_id, ds.channel_id, start_at=start, end_at=end, **kw
    )


@pytest.mark.parametrize("endpoint", ["log", "channel"])
@pytest.mark.parametrize("precision", ["second", "millisecond", "microsecond"])
@pytest.mark.parametrize("start_inclusive", [True, False], ids=["start-in", "start-ex"])
@pytest.mark.parametrize("end_inclusive", [True, False], ids=["end-in", "end-ex"])
async def test_every_precision_and_bound_convention_lists_each_call_once(
    endpoint: str, precision: str, start_inclusive: bool, end_inclusive: bool
) -> None:
    ds = PACKED
    timeline = ds.timeline
    # Windows that reach four seconds before the calls, so that the first shard is
    # empty and finishes at once and a busy one splits into its slot; one neither starts
    # nor ends on a whole second or millisecond, the other does.
    early = timeline.start - dt.timedelta(seconds=4)
    windows = [
        (early + 250 * US, timeline.created_at(5700) + 250 * US),
        (early, timeline.end),
    ]
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        time_precision=precision,  # type: ignore[arg-type]  # one of the three
        start_inclusive=start_inclusive,
        end_inclusive=end_inclusive,
        record_requests=True,
    )
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        for start, end in windows:
            expected = {
                call_id
                for i, call_id in enumerate(ds.call_ids)
                if start <= timeline.created_at(i) < end
            }
            before = len(server.requests)
            listing = listing_of(endpoint, client, ds, start, end, shards=SHARDS, page_size=100)
            ids = [call.id async for call in listing]
            counts = Counter(ids)
            assert counts.most_common(1)[0][1] == 1, "a call was listed twice"
            assert set(ids) == expected, f"{len(expected - set(ids))} calls lost"
            # Busy shards did split (at whole seconds): more windows than shards.
            windows_asked = {
                m.groups()
                for r in server.requests[before:]
                if (m := WINDOW.search(r.query)) is not None
            }
            assert len(windows_asked) > SHARDS
            assert all(WHOLE_SECOND.fullmatch(b) for w in windows_asked for b in w), windows_asked


# --- the rule itself ------------------------------------------------------------------------

T = dt.datetime(2026, 10, 2, 8, 57, 58, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("start", "end", "after", "expected"),
    [
        (T, T + 5 * S, None, (T - S, T + 5 * S)),  # whole: a second below, the end itself
        (T + 736693 * US, T + 5 * S + 949077 * US, None, (T - S, T + 6 * S)),
        (T, T + 5 * S, T + 2 * S, (T - S, T + 3 * S)),  # resumed: the second past after
        (T, T + 5 * S, T + 2 * S + 10 * US, (T - S, T + 3 * S)),
        (T, T + 2 * S + 500 * US, T + 2 * S, (T - S, T + 3 * S)),
        (
            dt.datetime.min.replace(tzinfo=dt.UTC),
            dt.datetime.max.replace(tzinfo=dt.UTC),
            None,
            (dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC)),
        ),
    ],
)
def test_a_shard_asks_for_whole_seconds_around_its_window(
    start: dt.datetime,
    end: dt.datetime,
    after: dt.datetime | None,
    expected: tuple[dt.datetime, dt.datetime],
) -> None:
    assert query_window(start, end, after) == expected


def test_cuts_are_whole_seconds_inside_the_window() -> None:
    start, end = T + 200 * US * 1000, T + 9 * S + 800 * US * 1000
    cuts = even_cuts(start, end, 4)
    assert cuts[0] == start and cuts[-1] == end and cuts == sorted(set(cuts))
    assert all(c.microsecond == 0 for c in cuts[1:-1]) and len(cuts) == 5
    assert even_cuts(T, T + 900 * US * 1000, 8) == [T, T + 900 * US * 1000]  # no second inside
    split = split_cuts(T + 100 * US, T + 3 * S + 10 * US, T + 9 * S, 8)
    assert split == [T + 100 * US, T + S, T + 2 * S, T + 3 * S]  # at most one per second
    # No whole second in range: the shard pages through.
    assert split_cuts(T + 100 * US, T + 900 * US * 1000, T + S, 8) == [T + 100 * US]
    # Calls only at the shard's end (an inclusive endAt): no cut may leave it [end, end).
    assert split_cuts(T - S, T, T, 8) == [T - S]
    assert split_cuts(T - S, T + S, T + S, 8) == [T - S, T]
