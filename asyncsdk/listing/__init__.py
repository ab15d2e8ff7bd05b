"""Listing: the query, the pager, sharded listings and their checkpoints.

Bird's list endpoints (calls, recordings, transcriptions) page newest first through an
opaque token. This subpackage turns that into what callers use:

- `_query`: no I/O; the list endpoints' filters checked and encoded (`ListQuery`).
- `_pager`: `Pager` (and the calls' `CallPager`), the pages of one listing, with the
  next page prefetched.
- `_windows`: no I/O; a sharded listing's whole-second windows (what a shard asks
  for, where a busy shard is cut).
- `_checkpoints`: `ListingCheckpoint`, `ShardCheckpoint`: plain data, JSON.
- `_shard`: no I/O; one shard's state, how a page is accepted, how a shard is split.
- `_shards`: the engine (shards as tasks, splits, checkpoints), and what callers hold:
  `ShardedListing` (calls), `RecordingListing` (recordings).
- `_sharding`: what every sharded listing's entry point does (checks, then the engine).
- `_call_log`: `iter_call_log`, `iter_channel_calls`; `_recordings`: `iter_recordings`;
  sharded listings on the public client API.

Imports: the standard library, msgspec, and the package's `errors`, `models` and
`_protocol` (`_call_log` and `_recordings` name `Client` for its type only: the client
imports this subpackage for its pager).
"""

from ._call_log import iter_call_log, iter_channel_calls
from ._checkpoints import ListingCheckpoint, ShardCheckpoint
from ._pager import CallPager, FetchPage, Pager
from ._query import MAX_PAGE_SIZE, MAX_PAGE_TOKEN_LENGTH, MAX_RECORDINGS_PAGE_SIZE, ListQuery
from ._recordings import iter_recordings
from ._sharding import DEFAULT_SHARDS
from ._shards import SPLIT_MIN_PAGES, RecordingListing, ShardedListing

__all__ = [
    "DEFAULT_SHARDS",
    "MAX_PAGE_SIZE",
    "MAX_PAGE_TOKEN_LENGTH",
    "MAX_RECORDINGS_PAGE_SIZE",
    "SPLIT_MIN_PAGES",
    "CallPager",
    "FetchPage",
    "ListQuery",
    "ListingCheckpoint",
    "Pager",
    "RecordingListing",
    "ShardCheckpoint",
    "ShardedListing",
    "iter_call_log",
    "iter_channel_calls",
    "iter_recordings",
]
