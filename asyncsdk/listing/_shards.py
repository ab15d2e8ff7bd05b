"""`ShardedListing`: the engine of a sharded listing (see `asyncsdk.listing._call_log`).

One engine for every sharded listing (calls, recordings): it works on any page of
items with an ``id`` and a ``createdAt``. Shards run as tasks, each paging its own
query (a `Pager`, one page prefetched)
and handing each page over through one queue; the listing takes pages in arrival
order, checks and filters them, splits busy shards, and yields. A shard is busy when
the rest of its window looks like `SPLIT_MIN_PAGES` pages or more, judged both by the
items per second of everything it has seen and of its latest page alone (the first
notices a steady rate, the second a shard that has just reached a busy stretch). A
shard waits until its page is taken before handing over the next, so a listing of K
shards holds at most about 2K pages however long the window.

The decisions (which whole seconds a shard asks for, where a window is cut, how many
pages are left) are pure functions in `asyncsdk.listing._windows`; a shard's state,
how a page is accepted and how a shard is split are in `asyncsdk.listing._shard`.

Imports: msgspec, the standard library, and the package's `_closing`, `errors` and this
subpackage's `_checkpoints`, `_pager`, `_shard` and `_windows`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec

from .._closing import Closing
from ..errors import ConfigurationError
from ..models import Call, CallPage, Recording, RecordingPage
from ._checkpoints import ListingCheckpoint, ShardCheckpoint
from ._pager import ListPage, Pager
from ._shard import SPLIT_MIN_PAGES, Dated, Shard, accept_page, split_shard
from ._windows import even_cuts, query_window

__all__ = ["SPLIT_MIN_PAGES", "RecordingListing", "ShardEngine", "ShardedListing"]

_T = TypeVar("_T", bound=Dated)
_P = TypeVar("_P", bound=ListPage[Any])


class _Delivery(NamedTuple):
    shard: Shard
    page: Any  # as received
    calls: list[Any]  # its items that belong to the listing
    finished: bool


class ShardEngine(Closing, Generic[_P, _T]):
    """The items of one time window, listed by concurrent shards: each item once.

    The engine behind `ShardedListing` (calls) and `RecordingListing` (recordings),
    which are what callers hold. Nothing is sent until it is iterated, and it is
    iterated once: iterate it for items, or `pages` for each page's items. See the
    module `asyncsdk.listing._call_log` for how the window is split and why each item
    comes exactly once.
    """

    def __init__(
        self,
        make_pager: Callable[..., Pager[_P, _T]],
        *,
        listing: str = "calls",
        fingerprint: str,
        start_at: dt.datetime,
        end_at: dt.datetime,
        shards: int,
        page_size: int,
        resume: ListingCheckpoint | None,
    ) -> None:
        self._make_pager = make_pager
        self._listing = listing
        self._fingerprint = fingerprint
        self._start_at = start_at
        self._end_at = end_at
        self._limit = shards
        self._page_size = page_size
        if resume is None:
            cuts = even_cuts(start_at, end_at, shards)
            self._shards = [
                Shard(ShardCheckpoint(start=low, end=high))
                for low, high in itertools.pairwise(cuts)
            ]
        else:
            resume.check()
            if resume.query != fingerprint or (resume.start_at, resume.end_at) != (
                start_at,
                end_at,
            ):
                raise ConfigurationError(
                    "the checkpoint belongs to another listing (endpoint, filters or window "
                    "differ); resume with the same arguments"
                )
            self._shards = [Shard(s) for s in resume.shards]
        self._queue: asyncio.Queue[tuple[Shard, _P | BaseException]] = asyncio.Queue()
        self._started = False
        self._iterator: AsyncGenerator[Any, None] | None = None
        self._pages_fetched = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # --- what callers read --------------------------------------------------------

    @property
    def pages_fetched(self) -> int:
        """Pages received so far, across shards."""
        return self._pages_fetched

    @property
    def shards(self) -> list[ShardCheckpoint]:
        """The unfinished shards as they stand: window, last item handed over."""
        return [s for shard in self._shards if (s := shard.snapshot()) is not None]

    @property
    def done_fraction(self) -> float:
        """How much of the time window is done, 0.0 to 1.0 (by time, not by items)."""
        total = (self._end_at - self._start_at).total_seconds()
        left = 0.0
        for shard in self._shards:
            if not shard.done:
                top = shard.end if shard.after is None else min(shard.after, shard.end)
                left += max((top - shard.start).total_seconds(), 0.0)
        return max(0.0, 1.0 - left / total)

    def checkpoint(self) -> ListingCheckpoint:
        """Return where the listing stands: every item yielded so far counts as done."""
        return ListingCheckpoint(
            listing=self._listing,
            query=self._fingerprint,
            start_at=self._start_at,
            end_at=self._end_at,
            page_size=self._page_size,
            shards=self.shards,
        )

    # --- iteration ------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[_T]:
        """Iterate over the items of the window, each exactly once, page by page."""
        calls = self._calls()
        self._claim(calls)
        return calls

    def pages(self) -> AsyncGenerator[_P, None]:
        """Iterate over the pages as they arrive, each holding only its window's items.

        Yields:
            A page per page received (`CallPage`, `RecordingPage`): ``results`` are
            the items of that page that belong to the listing (possibly none),
            ``next_page_token`` is the token its shard continues with.

        Raises:
            RequestError: A page failed after the client's retries; the checkpoint
                still describes everything yielded before.
            DecodeError: A page is not newest first, or an item has no ``createdAt``.
        """
        pages = self._pages()
        self._claim(pages)
        return pages

    def _claim(self, iterator: AsyncGenerator[Any, None]) -> None:
        if self._started:
            raise RuntimeError(
                "a sharded listing is iterated once; to continue, make a new one with "
                "resume=listing.checkpoint()"
            )
        self._started = True
        self._iterator = iterator

    async def _pages(self) -> AsyncGenerator[_P, None]:
        deliveries = self._deliveries()
        try:
            async for delivery in deliveries:
                shard = delivery.shard
                for call in delivery.calls:
                    shard.hand_over(call)
                self._consumed(shard, delivery)
                yield msgspec.structs.replace(delivery.page, results=delivery.calls)
        finally:
            await deliveries.aclose()

    async def _calls(self) -> AsyncGenerator[_T, None]:
        deliveries = self._deliveries()
        try:
            async for delivery in deliveries:
                shard = delivery.shard
                for call in delivery.calls:
                    shard.hand_over(call)  # before the yield: the caller has it then
                    yield call
                self._consumed(shard, delivery)
        finally:
            await deliveries.aclose()

    def _consumed(self, shard: Shard, delivery: _Delivery) -> None:
        """Note that a page was handed over whole; forget a shard that is done."""
        if not delivery.finished:
            return
        shard.done = True
        # Its task is done; and what it still held of its pages (datetimes) would keep
        # the allocator's arenas of those pages alive for the rest of the listing.
        self._shards.remove(shard)
        shard.cursor = shard.last_seen = shard.after = None
        shard.after_ids = []
        shard.last_ids = set()

    async def aclose(self) -> None:
        """Stop: cancel every page in flight. Idempotent."""
        if self._iterator is not None:
            await self._iterator.aclose()

    # --- the shards -----------------------------------------------------------------

    async def _run_shard(self, shard: Shard) -> None:
        """Page one shard, handing each page over and waiting until it is taken."""
        pages: AsyncGenerator[_P, None] | None = None
        try:
            # Inside the try: whatever fails, the consumer hears of it and never waits
            # for a page that will not come.
            low, high = query_window(shard.start, shard.end, shard.passed[0])
            pager = self._make_pager(start_at=low, end_at=high, page_size=self._page_size)
            pages = pager.pages()
            async for page in pages:
                self._queue.put_nowait((shard, page))
                await shard.go.wait()
                shard.go.clear()
        except Exception as exc:  # handed to the consumer, who raises it
            self._queue.put_nowait((shard, exc))
        finally:
            if pages is not None:
                await pages.aclose()

    def _start(self, shard: Shard) -> None:
        task = shard.task = asyncio.create_task(self._run_shard(shard))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliveries(self) -> AsyncGenerator[_Delivery, None]:
        """Start the shards, take their pages in arrival order, split busy ones."""
        waiting = [s for s in self._shards if not s.done]
        running: list[Shard] = []
        try:
            while waiting or running:
                while waiting and len(running) < self._limit:
                    shard = waiting.pop(0)
                    running.append(shard)
                    self._start(shard)
                shard, outcome = await self._queue.get()
                if isinstance(outcome, BaseException):
                    raise outcome
                self._pages_fetched += 1
                calls = accept_page(shard, outcome)
                finished = shard.fetched_all
                if finished:
                    running.remove(shard)
                    if shard.task is not None:
                        shard.task.cancel()
                elif not waiting:
                    for piece in split_shard(
                        shard, free=self._limit - len(running), page_size=self._page_size
                    ):
                        waiting.append(piece)
                        self._shards.append(piece)
                yield _Delivery(shard, outcome, calls, finished)
                if not finished:
                    shard.go.set()
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)


class ShardedListing(ShardEngine[CallPage, Call]):
    """The calls of one time window, listed by concurrent shards: each call once.

    Made by `iter_call_log` and `iter_channel_calls` with every filter checked; nothing
    is sent until it is iterated, and it is iterated once: iterate it for calls, or
    `pages` for each page's calls. See the module `asyncsdk.listing._call_log` for how the
    window is split and why each call comes exactly once.

    Example:
        ```python
        listing = asyncsdk.iter_call_log(client, ws, start_at=day, end_at=next_day)
        async with listing:
            async for page in listing.pages():
                write(page.results)
                save(listing.checkpoint().to_json())
        ```
    """


class RecordingListing(ShardEngine[RecordingPage, Recording]):
    """The recordings of one time window, listed by concurrent shards: each one once.

    Made by `iter_recordings`; the same engine and guarantees as `ShardedListing`
    (exactly once, checkpoints that name recordings, not positions), over the
    recordings' ``createdAt``. Its checkpoints resume recordings listings only.

    Example:
        ```python
        listing = asyncsdk.iter_recordings(client, ws, start_at=day, end_at=next_day)
        async with listing:
            async for page in listing.pages():
                archive(page.results)
                save(listing.checkpoint().to_json())
        ```
    """
