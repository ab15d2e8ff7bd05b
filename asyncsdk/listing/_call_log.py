"""Sharded listings: one time window cut into sub-windows, paged concurrently.

Cursor pagination is sequential: one listing waits one round trip per page. A
`ShardedListing` (from `iter_call_log` or `iter_channel_calls`) cuts ``[start_at,
end_at)`` into ``shards`` half-open sub-windows on ``createdAt`` and pages each through
its own query, every request through the client's limiter and retries. Calls are handed
over page by page as they arrive, whichever shard they come from.

**Exactly once.** Each call belongs to the one shard whose window holds its
``createdAt``. Bird's reference does not say how finely ``startAt``/``endAt`` are read
(second, millisecond, microsecond) nor whether each bound is inclusive, so a listing
sends whole seconds only, which read the same at every precision: windows are cut at
whole seconds, and a shard of ``[start, end)`` asks for ``[the whole second below
start's, the first whole second at or after end]``. Whatever the convention, every
call of its window is inside the query; the calls outside the window are dropped, as
the neighbouring shard returns them (`asyncsdk.listing._windows` has the rule and the
evidence). Nor does the reference say whether a page token names where the last page
ended or counts the calls served before; with a counting token, calls created during
the listing push the next page back and the API serves calls again, of the previous
page or, when more than a page was created, of pages before it and new calls too.
A shard keeps the oldest ``createdAt`` it was served and the IDs served at it, and
drops what is newer or one of those IDs: calls it has passed (served already, or
created since, which are the next listing's as on a resume). A call without a
``createdAt`` cannot be placed and raises `DecodeError`, as does a page out of
newest-first order (the listing relies on it).

**Busy shards split.** Pages come newest first, so after a page a shard has covered
``[cursor, end)``, where ``cursor`` is the oldest ``createdAt`` seen, and the rest of its
window is ``[start, cursor]``. When slots are free (shards finished early, e.g. empty
ones) and the calls per second seen so far say the rest holds at least
`SPLIT_MIN_PAGES` pages, the rest is cut at whole seconds ``M`` with ``start < M <=
cursor``: the shard keeps ``[M_last, end)`` and carries on with its token, new shards
take the lower pieces with fresh queries. Every call the shard already handed over has
``createdAt >= cursor >= M``, calls tied with the cursor stay with the shard, and once
a page of the shard reaches below its new ``start`` everything after it is older: the
shard stops there. So every call still lands in exactly one window. A second holding
more calls than a shard should take is not split (it has no whole second inside): its
shard pages through it.

**Checkpoints name calls, not positions.** `ShardedListing.checkpoint` describes what
has been handed over: per unfinished shard its window and the last call handed over,
as its ``createdAt`` (``after``) and the IDs handed over at that ``createdAt``
(``after_ids``; the API's order among calls created at the same time is not relied
on). A resumed shard asks again for its window up to the first whole second past
``after``, with no page token, and drops every call newer than ``after`` and those
IDs. A count of calls into a page (as version 1 kept) names other calls once the page
has changed; a page token may be positional or expire. On a live workspace new calls
appear at the top of a window's first page, since the order is newest first: the
first page is not stable, but the key is. New calls newer than ``after`` sit where the
shard has already been and are left to the next listing, as they would be had it run
without stopping; those older than ``after`` (or at it, not yet handed over) are
listed; none is listed twice (``tests/test_sharding_live.py``). A call or page counts
as handed over once it is yielded. `iter_call_log` with ``resume=`` continues from a
checkpoint, with any page size.

This module holds the entry points; the engine is `asyncsdk.listing._shards` and the
checkpoint types are `asyncsdk.listing._checkpoints`. Hand-written on asyncio: no library we
know of splits a cursor-paginated time window into shards (pagination helpers page one
cursor at a time), and the splitting depends on what this API's pages say.

The checks and the making every sharded listing shares (with `iter_recordings`, which
lists recordings the same way) are in `asyncsdk.listing._sharding`.

Imports: the standard library and this subpackage's modules (the `Client` for its type
only: it runs on the public client API).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._checkpoints import ListingCheckpoint
from ._query import Values
from ._sharding import DEFAULT_SHARDS, make_listing
from ._shards import ShardedListing

if TYPE_CHECKING:  # the client imports this package: only its type is needed here
    from ..client import Client

__all__ = ["iter_call_log", "iter_channel_calls"]


def iter_call_log(
    client: Client,
    workspace_id: str | uuid.UUID,
    *,
    start_at: dt.datetime,
    end_at: dt.datetime,
    shards: int = DEFAULT_SHARDS,
    page_size: int | None = None,
    resume: ListingCheckpoint | None = None,
    channel_ids: str | uuid.UUID | Iterable[str | uuid.UUID] | None = None,
    tags: Values | None = None,
    status: Values | None = None,
    direction: Values | None = None,
    type: Values | None = None,
    from_: str | None = None,
    to: str | None = None,
    duration: int | None = None,
) -> ShardedListing:
    """List the workspace's calls of ``[start_at, end_at)`` with concurrent shards.

    The window is cut into ``shards`` sub-windows paged at once (busy ones are split
    further as pages show where the calls are); each call comes exactly once. The
    filters are those of `Client.list_call_log`.

    Args:
        client: The client whose limiter, retries and connections every page uses.
        workspace_id: The workspace's UUID.
        start_at: Start of the window (inclusive), timezone-aware.
        end_at: End of the window (exclusive), timezone-aware.
        shards: Shards paged at once (and so requests in flight), 1 to 1000.
        page_size: Calls per page of each shard; default 1000, the API's maximum, or
            the checkpoint's when resuming.
        resume: A `ListingCheckpoint` of the same listing to continue from.
        channel_ids: Only calls of these channels.
        tags: Only calls with this tag (one or an iterable).
        status: Call status(es) to keep.
        direction: ``incoming`` and/or ``outgoing``.
        type: Call type(s).
        from_: Only calls from this number.
        to: Only calls to this number.
        duration: Only calls of this length, in seconds.

    Returns:
        A `ShardedListing`; nothing is sent until it is iterated.

    Raises:
        ConfigurationError: A filter is out of range, a bound is missing, or ``resume``
            belongs to another listing.
        InvalidIDError: An ID is not a UUID.
    """
    return make_listing(
        ShardedListing,
        functools.partial(client.list_call_log, workspace_id),
        {
            "channel_ids": channel_ids,
            "tags": tags,
            "status": status,
            "direction": direction,
            "type": type,
            "from_": from_,
            "to": to,
            "duration": duration,
        },
        start_at=start_at,
        end_at=end_at,
        shards=shards,
        page_size=page_size,
        resume=resume,
    )


def iter_channel_calls(
    client: Client,
    workspace_id: str | uuid.UUID,
    channel_id: str | uuid.UUID,
    *,
    start_at: dt.datetime,
    end_at: dt.datetime,
    shards: int = DEFAULT_SHARDS,
    page_size: int | None = None,
    resume: ListingCheckpoint | None = None,
    status: Values | None = None,
    direction: Values | None = None,
    type: Values | None = None,
    from_: str | None = None,
    to: str | None = None,
    duration: int | None = None,
) -> ShardedListing:
    """List one channel's calls of ``[start_at, end_at)`` with concurrent shards.

    `iter_call_log` for the endpoint of `Client.list_calls`; see it for the rest.

    Args:
        client: The client whose limiter, retries and connections every page uses.
        workspace_id: The workspace's UUID.
        channel_id: The voice channel's UUID.
        start_at: Start of the window (inclusive), timezone-aware.
        end_at: End of the window (exclusive), timezone-aware.
        shards: Shards paged at once (and so requests in flight), 1 to 1000.
        page_size: Calls per page of each shard; default 1000, the API's maximum, or
            the checkpoint's when resuming.
        resume: A `ListingCheckpoint` of the same listing to continue from.
        status: Call status(es) to keep.
        direction: ``incoming`` and/or ``outgoing``.
        type: Call type(s).
        from_: Only calls from this number.
        to: Only calls to this number.
        duration: Only calls of this length, in seconds.

    Returns:
        A `ShardedListing`; nothing is sent until it is iterated.

    Raises:
        ConfigurationError: A filter is out of range, a bound is missing, or ``resume``
            belongs to another listing.
        InvalidIDError: An ID is not a UUID.
    """
    return make_listing(
        ShardedListing,
        functools.partial(client.list_calls, workspace_id, channel_id),
        {
            "status": status,
            "direction": direction,
            "type": type,
            "from_": from_,
            "to": to,
            "duration": duration,
        },
        start_at=start_at,
        end_at=end_at,
        shards=shards,
        page_size=page_size,
        resume=resume,
    )
