"""One shard of a sharded listing: its state, how a page is accepted, how it is split.

No I/O and no tasks: `Shard` is the live state the engine (`asyncsdk.listing._shards`)
changes between pages; `accept_page` checks a page's newest-first order, keeps the items
of the shard's window that were not handed over already, and notes how far the shard
has come; `split_shard` cuts the rest of a busy shard into new shards. They work on any
listed item with an ``id`` (UUID) and a ``createdAt``: calls and recordings alike.

Imports: msgspec, the standard library, and the package's `errors`, `models` (URL
redaction), `_protocol` and this subpackage's `_checkpoints`, `_pager` (its page
protocol) and `_windows`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from typing import Final, Protocol, TypeVar

import msgspec

from .. import _protocol
from ..errors import DecodeError
from ..models import redact_url
from ._checkpoints import ShardCheckpoint
from ._pager import ListPage
from ._windows import pages_left, split_cuts

__all__ = ["SPLIT_MIN_PAGES", "Dated", "Shard", "accept_page", "split_shard"]

#: A shard is split when the rest of its window is estimated at this many pages or more.
SPLIT_MIN_PAGES: Final = 2


class Dated(Protocol):
    """What a sharded listing needs of an item: its UUID and when it was created."""

    @property
    def id(self) -> uuid.UUID:
        """The item's UUID."""

    @property
    def created_at(self) -> dt.datetime | None:
        """When the item was created (the listing's time axis)."""


_T = TypeVar("_T", bound=Dated)


def _evidence(item: object) -> bytes:
    """The item as JSON for a `DecodeError`, any presigned ``url`` redacted."""
    url = getattr(item, "url", None)
    if isinstance(url, str) and isinstance(item, msgspec.Struct):
        item = msgspec.structs.replace(item, url=redact_url(url))
    return msgspec.json.encode(item)


class Shard:
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

    def hand_over(self, call: Dated) -> None:
        """Note that ``call`` (an item of this shard's window) was handed to the caller."""
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
        """Return where the shard stands, or ``None`` once it is done."""
        if self.done:
            return None
        return ShardCheckpoint(
            start=self.start,
            end=self.end,
            after=self.after,
            after_ids=tuple(self.after_ids),
            seen=self.handed,
        )


def accept_page(shard: Shard, page: ListPage[_T]) -> list[_T]:
    """Check a page's order, keep the items of the shard's window, note its progress.

    A call newer than the oldest the shard was served, or served at that very
    ``createdAt`` already, is one the shard has passed: served again (a page token
    that counts the calls served, while calls are created above) or created since,
    the next listing's, as on a resume. A page itself must be newest first.
    """
    start, end = shard.start, shard.end
    last, last_ids = shard.last_seen, shard.last_ids
    previous: dt.datetime | None = None
    kept: list[_T] = []
    for position, call in enumerate(page.results):
        created = call.created_at
        if created is None or (previous is not None and created > previous):
            raise DecodeError(
                "a listed item has no createdAt"
                if created is None
                else "the API listed calls out of newest-first order",
                method=_protocol.METHOD,
                url=f"(the shard [{start.isoformat()}, {end.isoformat()}))",
                path=f"$.results[{position}].createdAt",
                body=_evidence(call),
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


def split_shard(shard: Shard, *, free: int, page_size: int) -> list[Shard]:
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
        pages_left(shard.fetched, shard.end - top, rest, page_size),
        pages_left(*shard.recent, rest, page_size),
    )
    if pages < SPLIT_MIN_PAGES:
        return []
    # Each piece should be worth SPLIT_MIN_PAGES pages: a split costs a partial page.
    cuts = split_cuts(shard.start, top, shard.end, int(min(free + 1, pages / SPLIT_MIN_PAGES)))
    pieces = [Shard(ShardCheckpoint(start=low, end=high)) for low, high in itertools.pairwise(cuts)]
    shard.start = cuts[-1]
    return pieces
