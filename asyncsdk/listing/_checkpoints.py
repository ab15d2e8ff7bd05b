"""Checkpoints of sharded listings: where each unfinished shard stands, as JSON.

A `ListingCheckpoint` is plain data (msgspec Structs, encoded with `to_json`): a caller
stores it wherever it keeps progress, and passes it back as ``resume=`` to
`asyncsdk.iter_call_log`, `asyncsdk.iter_channel_calls` or `asyncsdk.iter_recordings`
to continue a listing exactly where it stood; it names the kind of listing it belongs
to. See `asyncsdk.listing._call_log` for what it means to be "handed over".

Imports: msgspec, the standard library, `asyncsdk.listing._query` (its bounds) and
`asyncsdk.errors`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Final

import msgspec

from ..errors import ConfigurationError
from ._query import MAX_PAGE_SIZE, MAX_RECORDINGS_PAGE_SIZE

__all__ = ["LISTING_PAGE_SIZES", "ListingCheckpoint", "ShardCheckpoint"]

_CHECKPOINT_VERSION: Final = 2
#: The kinds of sharded listings, and the largest page size of each.
LISTING_PAGE_SIZES: Final = {"calls": MAX_PAGE_SIZE, "recordings": MAX_RECORDINGS_PAGE_SIZE}


class ShardCheckpoint(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where one unfinished shard of a sharded listing stands: what it handed over.

    Pages come newest first, so a shard has handed over a prefix of its window in that
    order. The prefix ends at the last call handed over, named by its ``createdAt``
    (``after``) and by the IDs handed over at that very ``createdAt`` (``after_ids``):
    the API's order among calls created at the same time is not something to rely on.
    A resumed shard lists its window again up to ``after`` and drops what is newer, and
    those IDs; no position in a page is kept, since pages move when calls are created.
    ``after_ids`` holds the calls of one ``createdAt``: a few when the API writes
    milliseconds, as many as a busy second holds if it writes whole seconds.

    Attributes:
        start: Start of the shard's window (raised when the shard was split).
        end: End of the shard's window (exclusive).
        after: ``createdAt`` of the last call handed over; ``None``: none was.
        after_ids: The IDs handed over whose ``createdAt`` is ``after``.
        seen: Calls of the window handed over so far.
    """

    start: dt.datetime
    end: dt.datetime
    after: dt.datetime | None = None
    after_ids: tuple[uuid.UUID, ...] = ()
    seen: int = 0


class ListingCheckpoint(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Everything needed to resume a sharded listing exactly where it was.

    Save it with `to_json` after the calls handed over so far are safe; pass it back
    with `from_json` as ``resume=`` to the function that made the listing
    (`iter_call_log`, `iter_channel_calls`, `iter_recordings`), with the same filters
    and window.

    Attributes:
        query: A digest of the endpoint, filters and window it belongs to.
        start_at: Start of the whole window.
        end_at: End of the whole window (exclusive).
        page_size: Items per page it was listed with (a resumed listing's default).
        shards: The unfinished shards; empty once everything was handed over.
        version: Format version.
        listing: What was listed: ``"calls"`` or ``"recordings"``; a checkpoint
            resumes only a listing of the same kind (a checkpoint without it, written
            before recordings were listed, is a calls listing's).
    """

    query: str
    start_at: dt.datetime
    end_at: dt.datetime
    page_size: int
    shards: list[ShardCheckpoint]
    version: int = _CHECKPOINT_VERSION
    listing: str = "calls"

    @property
    def complete(self) -> bool:
        """Whether every call of the window was handed over."""
        return not self.shards

    def check(self) -> None:
        """Check that the checkpoint is one a listing could have taken.

        `from_json` and ``resume=`` call it: a checkpoint edited by hand, or cut short,
        fails here rather than resuming into a listing that loses or repeats calls.

        Raises:
            ConfigurationError: Naming what is wrong (another format version, a naive
                time, a shard outside the window, shards that overlap, a negative
                count, a last call handed over outside its shard).
        """
        _check_listing(self)

    def to_json(self) -> bytes:
        """Encode as JSON."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> ListingCheckpoint:
        """Decode from `to_json`'s output.

        Raises:
            ConfigurationError: ``data`` is not a checkpoint of this version.
        """
        try:
            checkpoint = msgspec.json.decode(data, type=cls)
        except msgspec.MsgspecError as exc:
            raise ConfigurationError(f"not a listing checkpoint: {exc}") from exc
        checkpoint.check()
        return checkpoint


def _aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(f"checkpoint: {name} has no time zone: {value.isoformat()}")


def _check_listing(checkpoint: ListingCheckpoint) -> None:
    """Raise `ConfigurationError` unless every field is one a listing could have written."""
    if checkpoint.version == 1:
        # Version 1 counted calls by their position in a page (``skip``), which does not
        # name the same calls once the page has changed, and its ``cursor`` was the
        # oldest call fetched, not handed over: no exact resume can be made from it.
        raise ConfigurationError(
            "checkpoint version 1 (an earlier asyncsdk) counted positions in pages, which "
            "calls created since can shift; it cannot be resumed exactly. Start the listing "
            "again (asyncsdk export: remove the output and its checkpoint file)"
        )
    if checkpoint.version != _CHECKPOINT_VERSION:
        raise ConfigurationError(f"checkpoint version {checkpoint.version} is not supported")
    _aware("startAt", checkpoint.start_at)
    _aware("endAt", checkpoint.end_at)
    if not checkpoint.start_at < checkpoint.end_at:
        raise ConfigurationError("checkpoint: startAt is not before endAt")
    largest = LISTING_PAGE_SIZES.get(checkpoint.listing)
    if largest is None:
        raise ConfigurationError(
            f"checkpoint: listing must be one of {sorted(LISTING_PAGE_SIZES)}, "
            f"got {checkpoint.listing!r}"
        )
    if not 1 <= checkpoint.page_size <= largest:
        raise ConfigurationError(
            f"checkpoint: pageSize must be 1 to {largest}, got {checkpoint.page_size}"
        )
    for n, shard in enumerate(checkpoint.shards):
        where = f"checkpoint: shards[{n}]"
        for name in ("start", "end"):
            _aware(f"shards[{n}].{name}", getattr(shard, name))
        if not checkpoint.start_at <= shard.start < shard.end <= checkpoint.end_at:
            raise ConfigurationError(
                f"{where}: its window [{shard.start.isoformat()}, {shard.end.isoformat()}) "
                "is not inside the listing's window"
            )
        if shard.seen < 0:
            raise ConfigurationError(f"{where}: seen must be 0 or more, got {shard.seen}")
        if shard.after is None:
            if shard.after_ids:
                raise ConfigurationError(f"{where}: afterIds without after")
            continue
        _aware(f"shards[{n}].after", shard.after)
        if not shard.start <= shard.after < shard.end or not shard.after_ids:
            raise ConfigurationError(
                f"{where}: after must be the createdAt of calls handed over (afterIds) "
                "inside the shard's window"
            )
    windows = sorted((shard.start, shard.end) for shard in checkpoint.shards)
    for (_, end), (start, _) in itertools.pairwise(windows):
        if start < end:
            raise ConfigurationError(
                "checkpoint: two shards' windows overlap; their calls would be listed twice"
            )
