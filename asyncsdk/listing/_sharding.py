"""What every sharded listing's entry point does: check the window, freeze the filters, start.

`iter_call_log`, `iter_channel_calls` (`asyncsdk.listing._call_log`) and
`iter_recordings` (`asyncsdk.listing._recordings`) each name their endpoint, its list
method and filters, and hand them to `make_listing`, which checks the window, the shard
count and the checkpoint, and makes the listing (`ShardedListing`, `RecordingListing`:
one engine, `asyncsdk.listing._shards`).

Imports: the standard library and this subpackage's `_checkpoints`, `_pager`, `_query`
and `_shards`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from ..errors import ConfigurationError
from ._checkpoints import ListingCheckpoint
from ._pager import Pager
from ._query import MAX_PAGE_SIZE, MAX_RECORDINGS_PAGE_SIZE
from ._shards import RecordingListing, ShardedListing, ShardEngine

__all__ = ["DEFAULT_SHARDS", "make_listing"]

DEFAULT_SHARDS: Final = 8
"""Shards of a sharded listing, and so pages in flight at once, unless told otherwise."""

_L = TypeVar("_L", bound=ShardEngine[Any, Any])


def _check_window(
    start_at: object,
    end_at: object,
    shards: object,
    page_size: int | None,
    resume: ListingCheckpoint | None,
    listing: str,
    default_page_size: int,
) -> tuple[int, int]:
    """Check what `build_query` does not; return the shard count and the page size."""
    for name, value in (("start_at", start_at), ("end_at", end_at)):
        if value is None:
            raise ConfigurationError(f"{name} is required: a sharded listing splits a window")
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 1000:
        raise ConfigurationError(f"shards must be an int from 1 to 1000, got {shards!r}")
    if resume is None:
        return shards, default_page_size if page_size is None else page_size
    if not isinstance(resume, ListingCheckpoint):
        raise ConfigurationError(f"resume must be a ListingCheckpoint, got {type(resume).__name__}")
    if resume.listing != listing:
        raise ConfigurationError(
            f"the checkpoint is of a listing of {resume.listing}, not of {listing}; "
            "resume it with the function that made it"
        )
    # A checkpoint names the last item handed over, not a place in a page: any page
    # size resumes it.
    return shards, resume.page_size if page_size is None else page_size


def _frozen(filters: dict[str, Any]) -> dict[str, Any]:
    """Copy each filter that takes several values into a tuple, once.

    Every shard builds its query from these values, long after the call: a generator
    would be spent by the first, and a list the caller changes later would give shards
    other filters than the checkpoint's fingerprint says.
    """
    return {name: _tuple(value) if name in _MANY else value for name, value in filters.items()}


#: The filters that take one value or an iterable of values.
_MANY: Final = frozenset({"channel_ids", "tags", "status", "direction", "type"})


def _tuple(value: object) -> object:
    """An iterable of values as a tuple; one value (a str, a UUID, bytes) as it is."""
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | bytearray):
        return tuple(value)
    return value


def make_listing(
    cls: Callable[..., _L],
    list_pager: Callable[..., Pager[Any, Any]],
    filters: dict[str, Any],
    *,
    start_at: dt.datetime,
    end_at: dt.datetime,
    shards: int,
    page_size: int | None,
    resume: ListingCheckpoint | None,
) -> _L:
    """Check the window, then the endpoint's path and filters; make the listing.

    ``cls`` is `ShardedListing` or `RecordingListing`, and names the kind of listing a
    checkpoint belongs to; ``list_pager`` is the client's list method with the path's
    IDs bound: called once here with the whole window (it checks the IDs and filters,
    and its query's fingerprint names the listing), then by each shard with its own.

    Raises:
        ConfigurationError: A bound is missing, a filter is out of range (the endpoint's
            own page-size bound included), or ``resume`` belongs to another listing.
        InvalidIDError: An ID is not a UUID.
    """
    listing, default_page_size = _KINDS[cls]
    count, size = _check_window(
        start_at, end_at, shards, page_size, resume, listing, default_page_size
    )
    frozen = _frozen(filters)
    query = list_pager(**frozen, start_at=start_at, end_at=end_at, page_size=size).query
    assert query.start_at is not None  # checked by _check_window
    assert query.end_at is not None
    return cls(
        lambda **window: list_pager(**frozen, **window),
        listing=listing,
        fingerprint=query.fingerprint(),
        start_at=query.start_at,
        end_at=query.end_at,
        shards=count,
        page_size=size,
        resume=resume,
    )


#: Each listing class: the kind its checkpoints name, and its default page size (the
#: endpoint's largest).
_KINDS: Final[dict[object, tuple[str, int]]] = {
    ShardedListing: ("calls", MAX_PAGE_SIZE),
    RecordingListing: ("recordings", MAX_RECORDINGS_PAGE_SIZE),
}
