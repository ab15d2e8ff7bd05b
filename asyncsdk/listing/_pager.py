"""`Pager`: the items of one list query, page after page, the next page prefetched.

Every list method of `Client` (`Client.list_calls`, `Client.list_call_log`,
`Client.list_recordings`, `Client.list_call_recordings`, `Client.list_transcriptions`)
checks its filters and hands a `Pager` back without sending anything: `CallPager` for
the calls, ``Pager[RecordingPage, Recording]`` and the like for the others; the pages
differ, the paging does not. Iterating it sends the first request; from
then on, as soon as a page arrives the request for the next one is sent, before the
page is handed to the caller, so the round trip of page k+1 overlaps the caller's work
on page k. It is never more than one page ahead: a listing of a million calls holds at
most two pages.

The request for page k+1 is given one turn of the event loop before page k is handed
over, so it is on the wire even if the caller then computes without awaiting anything
(measured: without that turn, prefetch did nothing for a CPU-bound caller).

Every page goes through the client's request path (the request engine): the same
rate limiter, retries, deadline, counters and logging as `Client.get_call`. A retried
page is the same request, with the same token.

An item the previous page held is dropped if the API serves it again (see
`_without_repeats`): pages whose token counts the items served before shift when items
are created meanwhile.

Leaving the loop early (``break``, an exception, cancellation) cancels the page in
flight when the iterator is closed. asyncio closes an abandoned async iterator soon
after the loop lets go of it; ``async with`` on the pager (or `Pager.aclose`)
closes it before the next statement.

Imports: the standard library, msgspec (to copy a page), and the package's `_closing`, `errors`,
`models` and this subpackage's `_query`; `asyncsdk.client` builds on this module,
which never imports it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import Any, Final, Generic, Protocol, TypeVar, cast

import msgspec

from .._closing import Closing
from ..errors import DecodeError
from ..models import Call, CallPage
from ._query import ListQuery

__all__ = ["CallPager", "FetchPage", "Item", "ListPage", "Pager"]


class Item(Protocol):
    """What a pager needs of a listed item: its UUID."""

    @property
    def id(self) -> uuid.UUID:
        """The item's UUID."""


_T = TypeVar("_T", bound=Item)


class ListPage(Protocol[_T]):
    """What a pager needs of a page (a msgspec Struct): its items, the next page's token."""

    @property
    def results(self) -> list[_T]:
        """The page's items, newest first."""

    @property
    def next_page_token(self) -> str | None:
        """The next page's token; ``None`` at the end."""


_P = TypeVar("_P", bound=ListPage[Any])

#: How a pager gets one page: the client's request path for ``(query, page_token)``.
FetchPage = Callable[[ListQuery, str | None], Coroutine[Any, Any, _P]]
#: An ID as callers pass it.
Id = str | uuid.UUID

_METHOD: Final = "GET"


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a finished prefetch's outcome as seen, so an abandoned failure is not logged."""
    if not task.cancelled():
        task.exception()


class Pager(Closing, Generic[_P, _T]):
    """The items of one list query: an async iterator of items, with `pages` for pages.

    Made by the client's list methods, with every filter already checked; nothing is
    sent until it is iterated. Each iteration starts at the page the pager was made
    for (the first, or ``page_token``'s). Typed by its page and item:
    ``Pager[RecordingPage, Recording]`` from `Client.list_recordings`; the calls' is
    `CallPager`.

    Example:
        ```python
        async with client.list_recordings(workspace_id, status="available") as pager:
            async for recording in pager:
                print(recording.id, recording.duration)
        ```

        To stop and resume later, iterate the pages and keep the last token:

        ```python
        async for page in client.list_transcriptions(workspace_id).pages():
            handle(page.results)
            save(page.next_page_token)  # None after the last page
        ```
    """

    __slots__ = ("_fetch", "_iterators", "_page_token", "_query")

    def __init__(self, fetch: FetchPage[_P], query: ListQuery, *, page_token: str | None) -> None:
        self._fetch = fetch
        self._query = query
        self._page_token = page_token
        # Strong references, so that `aclose` reaches them even after ``break`` dropped
        # the loop's own; the iterators do not refer to the pager, so dropping both
        # lets asyncio close them at once. Finished ones are pruned as new ones come,
        # so a pager iterated again and again does not keep them all.
        self._iterators: list[AsyncGenerator[Any, None]] = []

    @property
    def query(self) -> ListQuery:
        """The checked query: the endpoint's path, its filters, window and page size."""
        return self._query

    @property
    def page_token(self) -> str | None:
        """The token of the page each iteration starts at (``None``: the first page)."""
        return self._page_token

    def __aiter__(self) -> AsyncIterator[_T]:
        """Iterate over the items of every page, newest first."""
        calls: AsyncGenerator[_T, None] = _items(_pages(self._fetch, self._query, self._page_token))
        self._track(calls)
        return calls

    def pages(self) -> AsyncGenerator[_P, None]:
        """Iterate over the pages; the request for the next is sent before one is yielded.

        Yields:
            Each page in turn (a `CallPage` of a `CallPager`); the last has
            ``next_page_token`` ``None``. A page may hold fewer items than the page
            size, or none, before the end.

        Raises:
            RequestError: A page failed after the client's retries (`APIError` for an
                error status: a token the API refuses is `UnprocessableEntityError`).
            DecodeError: A page is not a page of the endpoint's items, or names itself
                as its own next page (which would loop forever).
        """
        pages = _pages(self._fetch, self._query, self._page_token)
        self._track(pages)
        return pages

    def _track(self, iterator: AsyncGenerator[Any, None]) -> None:
        # A finished or closed async generator has no frame left.
        self._iterators = [i for i in self._iterators if getattr(i, "ag_frame", None)]
        self._iterators.append(iterator)

    async def aclose(self) -> None:
        """Close every iterator this pager handed out, cancelling pages in flight."""
        iterators, self._iterators = self._iterators, []
        for iterator in iterators:
            await iterator.aclose()

    def __repr__(self) -> str:
        start = "first page" if self._page_token is None else "a saved token"
        return f"<asyncsdk.{type(self).__name__} {self._query.path} from the {start}>"


class CallPager(Pager[CallPage, Call]):
    """The calls of one list query: an async iterator of `Call`, with `pages` for pages.

    Made by `Client.list_calls` and `Client.list_call_log`, with every filter already
    checked; nothing is sent until it is iterated. Each iteration starts at the page
    the pager was made for (the first, or ``page_token``'s). A `Pager` of `CallPage`.

    Example:
        ```python
        async with client.list_call_log(workspace_id, status="completed") as pager:
            async for call in pager:
                print(call.id, call.created_at)
        ```

        To stop and resume later, iterate the pages and keep the last token:

        ```python
        async for page in client.list_call_log(workspace_id).pages():
            handle(page.results)
            save(page.next_page_token)  # None after the last page
        ```
    """

    __slots__ = ()


async def _pages(
    fetch: FetchPage[_P], query: ListQuery, token: str | None
) -> AsyncGenerator[_P, None]:
    """Yield the pages from ``token`` on, the next one always requested first."""
    page = await fetch(query, token)
    pending: asyncio.Task[_P] | None = None
    served: frozenset[int] = frozenset()  # the IDs of the previous page, as served
    try:
        while True:
            page, served = _without_repeats(page, served)
            following = page.next_page_token
            if following is not None:
                if following == token:
                    raise DecodeError(
                        "the API named a page as its own next page; stopping rather than looping",
                        method=_METHOD,
                        url=query.path,
                        path="$.nextPageToken",
                        body=b"",
                    )
                pending = asyncio.create_task(fetch(query, following))
                pending.add_done_callback(_retrieve)
                # One turn of the loop lets the request go out before the caller gets the
                # page: a caller that then computes without awaiting still overlaps it.
                await asyncio.sleep(0)
            yield page
            if pending is None:
                return
            # Awaiting the task directly: cancelling the caller cancels it too.
            page = await pending
            pending = None
            token = following
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait((pending,))


def _without_repeats(page: _P, previous: frozenset[int]) -> tuple[_P, frozenset[int]]:
    """Return ``page`` without the items the previous page held, and this page's IDs.

    Bird's reference does not say whether a page token names where the last page ended
    or counts the calls served before. With a counting token, calls created while a
    listing runs (at its top: the order is newest first) push the next page back, and
    it starts with calls of the previous page again. A call is listed once. IDs are
    kept as integers: hashing them costs a quarter of hashing UUIDs (about 1 % of a
    page's decoding).

    Only the previous page is remembered, and nothing is assumed of the order: if more
    calls than a page are created between two requests, the next page may repeat
    calls of earlier pages, and the first page after a saved ``page_token`` may repeat
    calls of the page before it. A sharded listing (`asyncsdk.iter_call_log`) drops
    those too, relying on the newest-first order.
    """
    ids = frozenset([item.id.int for item in page.results])
    if previous.isdisjoint(ids):
        return page, ids
    fresh = [item for item in page.results if item.id.int not in previous]
    copy: _P = msgspec.structs.replace(cast(msgspec.Struct, page), results=fresh)  # type: ignore[assignment]
    return copy, ids


async def _items(pages: AsyncGenerator[ListPage[_T], None]) -> AsyncGenerator[_T, None]:
    try:
        async for page in pages:
            for item in page.results:
                yield item
    finally:
        await pages.aclose()
