"""Listing calls: the query, the pager, sharded listings and their checkpoints.

Bird's two list endpoints page newest first through an opaque token. This subpackage
turns that into what callers use:

- `_query`: no I/O; the list endpoints' filters checked and encoded (`ListQuery`).
- `_pager`: `CallPager`, the pages of one listing, with the next page prefetched.
- `_windows`: no I/O; a sharded listing's whole-second windows (what a shard asks
  for, where a busy shard is cut).
- `_checkpoints`: `ListingCheckpoint`, `ShardCheckpoint`: plain data, JSON.
- `_shards`: `ShardedListing`, the engine: shards as tasks, splits, checkpoints.
- `_call_log`: `iter_call_log`, `iter_channel_calls`, sharded listings on the public
  client API.

Imports: the standard library, msgspec, and the package's `errors`, `models` and
`_protocol` (`_call_log` names `Client` for its type only: the client imports this
subpackage for its pager).
"""

from ._call_log import DEFAULT_SHARDS, iter_call_log, iter_channel_calls
from ._checkpoints import ListingCheckpoint, ShardCheckpoint
from ._pager import CallPager, FetchPage, Pager
from ._query import MAX_PAGE_SIZE, MAX_PAGE_TOKEN_LENGTH, MAX_RECORDINGS_PAGE_SIZE, ListQuery
from ._shards import SPLIT_MIN_PAGES, ShardedListing

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
    "ShardCheckpoint",
    "ShardedListing",
    "iter_call_log",
    "iter_channel_calls",
]
