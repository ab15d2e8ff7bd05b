"""Listing calls through the real client and the embedded server, and the pager's prefetch.

The prefetch tests drive a `CallPager` with a scripted page fetcher, so what is in
flight at each step is known exactly, without clocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncsdk import (
    Call,
    CallPage,
    CallPager,
    CallStatus,
    Client,
    ClientClosedError,
    RateLimiter,
    UnprocessableEntityError,
)
from asyncsdk.listing._query import ListQuery
from asyncsdk.server import Dataset, EmbeddedServer, Faults, ServerConfig

from ._support import ACCESS_KEY

SIZE = 120


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    async with EmbeddedServer(config, dataset=Dataset(SIZE, seed=8)) as srv:
        yield srv


def newest_first(ds: Dataset) -> list[uuid.UUID]:
    return list(reversed(ds.call_ids))


# --- against the embedded server ------------------------------------------------------


async def test_pagination_runs_to_the_end(client: Client, server: EmbeddedServer) -> None:
    ds = server.dataset
    pages = [p async for p in client.list_call_log(ds.workspace_id, page_size=7).pages()]
    assert [len(p.results) for p in pages] == [7] * 17 + [1]
    assert [c.id for p in pages for c in p.results] == newest_first(ds)
    assert pages[-1].next_page_token is None
    assert client.stats.calls == client.stats.succeeded == 18
    channel = [c.id async for c in client.list_calls(ds.workspace_id, ds.channel_id)]
    assert channel == newest_first(ds)


async def test_a_saved_token_resumes_where_the_listing_stopped(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    seen: list[uuid.UUID] = []
    saved = None
    async with client.list_call_log(ds.workspace_id, page_size=10, status="completed") as pager:
        async for page in pager.pages():
            seen += [c.id for c in page.results]
            saved = page.next_page_token
            if len(seen) >= 20:
                break
    assert saved is not None
    resumed = client.list_call_log(
        ds.workspace_id, page_size=10, status="completed", page_token=saved
    )
    seen += [c.id async for c in resumed]
    everything = [c.id async for c in client.list_call_log(ds.workspace_id, status="completed")]
    assert seen == everything
    assert len(set(seen)) == len(seen) > 20


async def test_a_tampered_or_foreign_token_is_a_typed_422(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    first = await anext(client.list_call_log(ds.workspace_id, page_size=5).pages())
    token = first.next_page_token
    assert token is not None
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(UnprocessableEntityError) as caught:
        async for _ in client.list_call_log(ds.workspace_id, page_size=5, page_token=tampered):
            pass
    assert caught.value.status == 422
    assert caught.value.body is not None and "pageToken" in caught.value.body["details"]
    assert caught.value.attempts == 1  # a 422 is not retried
    with pytest.raises(UnprocessableEntityError, match="another query"):
        async for _ in client.list_call_log(ds.workspace_id, status="busy", page_token=token):
            pass


async def test_pages_are_retried_with_the_same_token() -> None:
    """Injected 503s: each page retried as the same request, every call exactly once."""
    config = ServerConfig(access_keys=(ACCESS_KEY,), faults=Faults(error_503=0.3), seed=5)
    ds = Dataset(300, seed=1)
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=8) as client,
    ):
        ids = [c.id async for c in client.list_call_log(ds.workspace_id, page_size=20)]
        stats = client.stats
    assert ids == newest_first(ds)
    assert stats.retries > 0 and stats.calls == 15
    queries = Counter(r.query for r in server.requests)
    assert len(queries) == 15  # one query per page, some sent more than once
    assert sum(queries.values()) == stats.attempts


class CountingLimiter:
    """A pass-through limiter that counts what it is asked."""

    def __init__(self) -> None:
        self.acquired = 0
        self.successes = 0

    async def acquire(self) -> None:
        self.acquired += 1

    def on_success(self, headers: Any) -> None:
        self.successes += 1

    async def on_throttle(self, retry_after: float | None, headers: Any) -> None:
        raise AssertionError("not throttled here")

    def on_failure(self, *, server: bool = True) -> None:
        raise AssertionError("no failure here")


async def test_every_page_goes_through_the_client_limiter(server: EmbeddedServer) -> None:
    limiter = CountingLimiter()
    assert isinstance(limiter, RateLimiter)
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url, limiter=limiter) as client:
        calls = [c async for c in client.list_call_log(server.dataset.workspace_id, page_size=50)]
    assert len(calls) == SIZE
    assert limiter.acquired == limiter.successes == 3


async def test_leaving_the_loop_cancels_the_prefetch(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    async with client.list_call_log(ds.workspace_id, page_size=10) as pager:
        async for call in pager:
            assert isinstance(call, Call)
            break
    fetching = [t for t in asyncio.all_tasks() if "_fetch_page" in repr(t.get_coro())]
    assert fetching == []  # the prefetched page was cancelled when the pager closed
    assert client.stats.calls <= 2


async def test_a_closed_client_refuses_to_list(server: EmbeddedServer) -> None:
    client = Client(access_key=ACCESS_KEY, base_url=server.base_url)
    pager = client.list_call_log(server.dataset.workspace_id)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        async for _ in pager:
            pass


async def test_a_window_lists_only_its_calls(client: Client, server: EmbeddedServer) -> None:
    ds = server.dataset
    start, end = ds.timeline.created_at(30), ds.timeline.created_at(60)
    calls = [
        c
        async for c in client.list_calls(
            ds.workspace_id, ds.channel_id, start_at=start, end_at=end, page_size=1000
        )
    ]
    assert [c.id for c in calls] == list(reversed(ds.call_ids[30:60]))
    assert all(c.created_at is not None and start <= c.created_at < end for c in calls)


async def test_from_the_beginning_of_time_is_a_valid_date(
    client: Client, server: EmbeddedServer
) -> None:
    """``datetime.min`` as "from the beginning" goes out as ``0001-01-01T00:00:00Z``."""
    ds = server.dataset
    beginning = dt.datetime.min.replace(tzinfo=dt.UTC)
    calls = [c async for c in client.list_call_log(ds.workspace_id, start_at=beginning)]
    assert [c.id for c in calls] == newest_first(ds)


@pytest.mark.parametrize("offset_tokens", [True, False], ids=["offset-tokens", "key-tokens"])
async def test_calls_created_while_paging_are_not_listed_twice(offset_tokens: bool) -> None:
    """Five calls appear at the top after the first page: a token that counts the calls
    served before then serves five of them again, which the pager drops."""
    ds = Dataset(SIZE, seed=9)
    newest = frozenset(ds.call_ids[-5:])
    config = ServerConfig(
        access_keys=(ACCESS_KEY,), unlisted=newest, unlisted_until=2, offset_tokens=offset_tokens
    )
    async with (
        EmbeddedServer(config, dataset=ds) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        pages = [p async for p in client.list_call_log(ds.workspace_id, page_size=20).pages()]
    ids = [c.id for p in pages for c in p.results]
    assert ids == [i for i in newest_first(ds) if i not in newest]
    assert pages[-1].next_page_token is None


# --- prefetch, with a scripted fetcher --------------------------------------------------


class ScriptedPages:
    """Pages ``0 .. count - 1``; page i's token is ``"t<i>"``; records every fetch."""

    def __init__(self, count: int, *, hold: int | None = None, fail: int | None = None) -> None:
        self.count = count
        self.hold = hold  # this page never arrives
        self.fail = fail  # this page raises
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.query = ListQuery("/x", (), None, None, None)

    async def fetch(self, query: ListQuery, token: str | None) -> CallPage:
        index = 0 if token is None else int(token[1:])
        self.started.append(index)
        try:
            if index == self.hold:
                await asyncio.Event().wait()
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled.append(index)
            raise
        if index == self.fail:
            raise UnprocessableEntityError(
                "422: no", method="GET", url="/x", status=422, body=None, text="", request_id=None
            )
        following = f"t{index + 1}" if index + 1 < self.count else None
        call = Call(id=uuid.UUID(int=index + 1, version=4))
        return CallPage(results=[call], next_page_token=following)

    def pager(self, token: str | None = None) -> CallPager:
        return CallPager(self.fetch, self.query, page_token=token)


async def settle() -> None:
    """Let every ready task run (no clock involved)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_the_next_page_is_in_flight_while_the_caller_holds_one() -> None:
    script = ScriptedPages(4)
    pages = script.pager().pages()
    first = await anext(pages)
    assert first.next_page_token == "t1"
    await settle()
    assert script.started == [0, 1]  # page 1 requested before page 0 was finished with
    await settle()
    assert script.started == [0, 1]  # and never more than one page ahead
    second = await anext(pages)
    assert second.results[0].id == uuid.UUID(int=2, version=4)
    await settle()
    assert script.started == [0, 1, 2]
    rest = [p async for p in pages]
    assert len(rest) == 2 and script.started == [0, 1, 2, 3]


async def test_closing_the_pager_cancels_the_page_in_flight() -> None:
    script = ScriptedPages(5, hold=1)
    async with script.pager() as pager:
        async for _ in pager:
            break
        await settle()
        assert script.started == [0, 1]
    assert script.cancelled == [1]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_cancelling_the_consumer_cancels_the_page_in_flight() -> None:
    script = ScriptedPages(5, hold=1)

    async def consume() -> None:
        async for _ in script.pager().pages():
            pass

    task = asyncio.create_task(consume())
    await settle()
    assert script.started == [0, 1]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert script.cancelled == [1]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_an_abandoned_iterator_is_closed_by_asyncio() -> None:
    """Without ``async with``, asyncio closes the dropped iterator; nothing leaks."""
    script = ScriptedPages(5, hold=1)
    iterator = aiter(script.pager())
    await anext(iterator)
    del iterator
    await settle()
    assert script.cancelled == [1]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_failed_prefetch_surfaces_where_its_page_would() -> None:
    script = ScriptedPages(5, fail=2)
    pages = script.pager().pages()
    assert (await anext(pages)).next_page_token == "t1"
    assert (await anext(pages)).next_page_token == "t2"
    with pytest.raises(UnprocessableEntityError):
        await anext(pages)


async def test_an_error_in_the_loop_body_cancels_the_prefetch() -> None:
    script = ScriptedPages(5, hold=1)
    with contextlib.suppress(LookupError):
        async with script.pager() as pager:
            async for _ in pager.pages():
                raise LookupError
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert script.cancelled == script.started[1:]  # cancelled, if it had even started


async def test_each_iteration_starts_from_the_pagers_token() -> None:
    script = ScriptedPages(4)
    pager = script.pager("t2")
    assert [c.id.int & 0xFF async for c in pager] == [3, 4]
    assert [c.id.int & 0xFF async for c in pager] == [3, 4]
    assert repr(pager).startswith("<asyncsdk.CallPager /x")


async def test_a_pager_iterated_again_and_again_keeps_no_finished_iterator() -> None:
    script = ScriptedPages(2)
    pager = script.pager()
    for _ in range(50):
        assert len([c async for c in pager]) == 2
        assert len([p async for p in pager.pages()]) == 2
    held = aiter(pager)
    await anext(held)
    assert len(pager._iterators) == 1  # the finished ones were let go
    await pager.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(held)


def test_enum_filter_values_are_sent_as_their_values() -> None:
    """``str()`` of a ``(str, Enum)`` member is ``Cls.NAME``; the value is what is sent."""
    from asyncsdk.listing._query import build_query

    class Legacy(str, enum.Enum):  # noqa: UP042 - what older code bases define
        BUSY = "busy"

    class Loud(str):
        def __str__(self) -> str:
            return "LOUD"

    class Seconds(enum.IntEnum):
        FIVE = 5

    query = build_query(
        "/x", status=[Legacy.BUSY, CallStatus.COMPLETED], to=Loud("+31 6"), duration=Seconds.FIVE
    )
    assert query.query_string(None) == "status=busy&status=completed&to=%2B31%206&duration=5"


def test_the_window_dates_are_checked_in_utc() -> None:
    """A window given in another zone is the same instant."""
    from asyncsdk.listing._query import build_query

    paris = dt.timezone(dt.timedelta(hours=2))
    a = build_query("/p", start_at=dt.datetime(2026, 10, 2, 2, tzinfo=paris))
    b = build_query("/p", start_at=dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
    assert a == b and a.fingerprint() == b.fingerprint()
