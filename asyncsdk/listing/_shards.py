"""`ShardedListing`: the engine of a sharded listing (see `asyncsdk.listing._call_log`).

Shards run as tasks, each paging its own query (a `CallPager`, one page prefetched)
and handing each page over through one queue; the listing takes pages in arrival
order, checks and filters them, splits busy shards, and yields. A shard is busy when
the rest of its window looks like `SPLIT_MIN_PAGES` pages or more, judged both by the
calls per second of everything it has seen and of its latest page alone (the first
notices a steady rate, the second a shard that has just reached a busy stretch). A shard waits until
its page is taken before handing over the next, so a listing of K shards holds at
most about 2K pages however long the window.

The decisions (which whole seconds a shard asks for, where a window is cut, how many
pages are left) are pure functions in `asyncsdk.listing._windows`.

Imports: the standard library, and the checkpoints, errors, listing, models, _windows
and _protocol modules of this package.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import TracebackType
from typing import Any, Final, NamedTuple, Self

from .. import _protocol
from ..errors import ConfigurationError, DecodeError
from ..models import Call, CallPage
from ._checkpoints import ListingCheckpoint, ShardCheckpoint
from ._pager import CallPager
from ._windows import even_cuts, pages_left, query_window, split_cuts

__all__ = ["SPLIT_MIN_PAGES", "ShardedListing"]

#: A shard is split when the rest of its window is estimated at this many pages or more.
SPLIT_MIN_PAGES: Final = 2


class _Shard:
    """One shard's live state (owned by the listing, changed only between pages)."""

    __slots__ = (
        "after",
        "after_ids",
        "cursor",
        "done",
        "end",
        "fetched",
        "fetched_all",
        "go",
        "handed",
        "last_ids",
        "last_seen",
        "passed",
        "recent",
        "start",
        "task",
    )

    def __init__(self, state: ShardCheckpoint) -> None:
        self.start = state.start.astimezone(dt.UTC)
        self.end = state.end.astimezone(dt.UTC)
        # What was handed over: the last call's createdAt and the IDs handed over at it.
        self.after = state.after
        self.after_ids = list(state.after_ids)
        self.handed = state.seen
        # What a resumed shard drops: the calls handed over before it was checkpointed.
        self.passed = (state.after, frozenset(state.after_ids))
        self.cursor = state.after  # the oldest createdAt fetched: where splits may cut
        self.fetched = state.seen  # calls of the window fetched in [cursor, end)
        # The oldest createdAt served, and the IDs served at it: what the shard has passed.
        self.last_seen: dt.datetime | None = None
        self.last_ids: set[int] = set()
        self.recent: tuple[int, dt.timedelta] = (0, dt.timedelta(0))  # last page: calls, span
        self.fetched_all = False
        self.done = False  # everything fetched was handed over
        self.go = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def hand_over(self, call: Call) -> None:
        """Note that ``call`` (of this shard's window) was handed to the caller."""
        if call.created_at != self.after:
            self.after = call.created_at
            self.after_ids = []
        self.after_ids.append(call.id)
        self.handed += 1

    def was_handed_over(self, created: dt.datetime, call_id: uuid.UUID) -> bool:
        """Whether a checkpoint this shard resumed from counts the call as handed over."""
        after, ids = self.passed
        return after is not None and (created > after or (created == after and call_id in ids))

    def snapshot(self) -> ShardCheckpoint | None:
        if self.done:
            return None
        return ShardCheckpoint(
            start=self.start,
            end=self.end,
            after=self.after,
            after_ids=tuple(self.after_ids),
            seen=self.handed,
        )


class _Delivery(NamedTuple):
    shard: _Shard
    calls: list[Call]
    next_token: str | None
    finished: bool


class ShardedListing:
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

    def __init__(
        self,
        make_pager: Callable[..., CallPager],
        *,
        fingerprint: str,
        start_at: dt.datetime,
        end_at: dt.datetime,
        shards: int,
        page_size: int,
        resume: ListingCheckpoint | None,
    ) -> None:
        self._make_pager = make_pager
        self._fingerprint = fingerprint
        self._start_at = start_at
        self._end_at = end_at
        self._limit = shards
        self._page_size = page_size
        if resume is None:
            cuts = even_cuts(start_at, end_at, shards)
            self._shards = [
                _Shard(ShardCheckpoint(start=low, end=high))
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
            self._shards = [_Shard(s) for s in resume.shards]
        self._queue: asyncio.Queue[tuple[_Shard, CallPage | BaseException]] = asyncio.Queue()
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
        """The unfinished shards as they stand: window, last call handed over."""
        return [s for shard in self._shards if (s := shard.snapshot()) is not None]

    @property
    def done_fraction(self) -> float:
        """How much of the time window is done, 0.0 to 1.0 (by time, not by calls)."""
        total = (self._end_at - self._start_at).total_seconds()
        left = 0.0
        for shard in self._shards:
            if not shard.done:
                top = shard.end if shard.after is None else min(shard.after, shard.end)
                left += max((top - shard.start).total_seconds(), 0.0)
        return max(0.0, 1.0 - left / total)

    def checkpoint(self) -> ListingCheckpoint:
        """Return where the listing stands: every call yielded so far counts as done."""
        return ListingCheckpoint(
            query=self._fingerprint,
            start_at=self._start_at,
            end_at=self._end_at,
            page_size=self._page_size,
            shards=self.shards,
        )

    # --- iteration ------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Call]:
        """Iterate over the calls of the window, each exactly once, page by page."""
        calls = self._calls()
        self._claim(calls)
        return calls

    def pages(self) -> AsyncGenerator[CallPage, None]:
        """Iterate over the pages as they arrive, each holding only its window's calls.

        Yields:
            A `CallPage` per page received: ``results`` are the calls of that page
            that belong to the listing (possibly none), ``next_page_token`` is the
            token its shard continues with.

        Raises:
            RequestError: A page failed after the client's retries; the checkpoint
                still describes everything yielded before.
            DecodeError: A page is not newest first, or a call has no ``createdAt``.
        """
        pages = self._pages()
        self._claim(pages)
        return pages

    def _claim(self, iterator: AsyncGenerator[Any, None]) -> None:
        if self._started:
            raise RuntimeError(
                "a ShardedListing is iterated once; to continue, make a new one with "
                "resume=listing.checkpoint()"
            )
        self._started = True
        self._iterator = iterator

    async def _pages(self) -> AsyncGenerator[CallPage, None]:
        deliveries = self._deliveries()
        try:
            async for delivery in deliveries:
                shard = delivery.shard
                for call in delivery.calls:
                    shard.hand_over(call)
                self._consumed(shard, delivery)
                yield CallPage(results=delivery.calls, next_page_token=delivery.next_token)
        finally:
            await deliveries.aclose()

    async def _calls(self) -> AsyncGenerator[Call, None]:
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

    def _consumed(self, shard: _Shard, delivery: _Delivery) -> None:
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- the shards -----------------------------------------------------------------

    async def _run_shard(self, shard: _Shard) -> None:
        """Page one shard, handing each page over and waiting until it is taken."""
        pages: AsyncGenerator[CallPage, None] | None = None
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

    def _start(self, shard: _Shard) -> None:
        task = shard.task = asyncio.create_task(self._run_shard(shard))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliveries(self) -> AsyncGenerator[_Delivery, None]:
        """Start the shards, take their pages in arrival order, split busy ones."""
        waiting = [s for s in self._shards if not s.done]
        running: list[_Shard] = []
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
                calls = self._accept(shard, outcome)
                finished = shard.fetched_all
                if finished:
                    running.remove(shard)
                    if shard.task is not None:
                        shard.task.cancel()
                elif not waiting:
                    for piece in self._split(shard, free=self._limit - len(running)):
                        waiting.append(piece)
                        self._shards.append(piece)
                yield _Delivery(shard, calls, outcome.next_page_token, finished)
                if not finished:
                    shard.go.set()
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)

    def _accept(self, shard: _Shard, page: CallPage) -> list[Call]:
        """Check a page's order, keep the calls of the shard's window, note its progress.

        A call newer than the oldest the shard was served, or served at that very
        ``createdAt`` already, is one the shard has passed: served again (a page token
        that counts the calls served, while calls are created above) or created since,
        the next listing's, as on a resume. A page itself must be newest first.
        """
        start, end = shard.start, shard.end
        last, last_ids = shard.last_seen, shard.last_ids
        previous: dt.datetime | None = None
        kept: list[Call] = []
        for position, call in enumerate(page.results):
            created = call.created_at
            if created is None or (previous is not None and created > previous):
                raise DecodeError(
                    "a listed call has no createdAt"
                    if created is None
                    else "the API listed calls out of newest-first order",
                    method=_protocol.METHOD,
                    url=f"(the shard [{start.isoformat()}, {end.isoformat()}))",
                    path=f"$.results[{position}].createdAt",
                    body=call.to_json(),
                )
            previous = created
            if last is not None and created >= last and (created > last or call.id.int in last_ids):
                continue
            if start <= created < end and not shard.was_handed_over(created, call.id):
                kept.append(call)
        if previous is not None and (last is None or previous <= last):
            if last is None or previous < last:
                last, last_ids = previous, set()
            for call in reversed(page.results):  # the calls at the page's oldest createdAt
                if call.created_at != previous:
                    break
                last_ids.add(call.id.int)
        shard.last_seen, shard.last_ids = last, last_ids
        if last is not None:
            # A resumed shard starts at ``after``: the calls newer than that, which it
            # asks for again and drops, must not let a split cut above it.
            shard.cursor = last if shard.cursor is None else min(shard.cursor, last)
        shard.fetched += len(kept)
        results = page.results
        if len(results) >= 2 and results[0].created_at is not None and previous is not None:
            shard.recent = (len(results), results[0].created_at - previous)
        shard.fetched_all = page.next_page_token is None or (last is not None and last < start)
        return kept

    def _split(self, shard: _Shard, *, free: int) -> list[_Shard]:
        """Cut the rest of a busy shard's window into new shards; return them."""
        cursor = shard.cursor
        if free <= 0 or cursor is None:
            return []
        # The query reaches past the window's end, so a page of calls all past it
        # leaves the cursor beyond `end`: the rest is at most the window.
        top = min(cursor, shard.end)
        if top <= shard.start:
            return []
        rest = top - shard.start
        pages = max(
            pages_left(shard.fetched, shard.end - top, rest, self._page_size),
            pages_left(*shard.recent, rest, self._page_size),
        )
        if pages < SPLIT_MIN_PAGES:
            return []
        # Each piece should be worth SPLIT_MIN_PAGES pages: a split costs a partial page.
        cuts = split_cuts(shard.start, top, shard.end, int(min(free + 1, pages / SPLIT_MIN_PAGES)))
        pieces = [
            _Shard(ShardCheckpoint(start=low, end=high)) for low, high in itertools.pairwise(cuts)
        ]
        shard.start = cuts[-1]
        return pieces
