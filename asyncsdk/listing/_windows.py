"""The windows of a sharded listing, with no I/O: what a shard asks for, where to cut.

**Whole seconds only.** Bird's reference does not say how finely ``startAt`` and
``endAt`` are read (to the microsecond, the millisecond or the second) nor whether each
bound is inclusive. A bound that is a whole second reads the same at every precision,
so a sharded listing sends nothing else: windows are cut only at whole seconds
(`even_cuts`, `split_cuts`), and a shard of ``[start, end)`` asks for
``[whole second before start's, first whole second at or after end]``
(`query_window`). Every call of the shard's window is then inside the query whether
either bound is inclusive or not, and even if the API compares ``createdAt`` cut to
the second; what the query returns beyond the window (at most the second below it,
and calls at ``end`` itself) is dropped by the listing on each call's ``createdAt``,
and the neighbouring shard keeps it. Evidence: ``tests/test_sharding_precision.py``
lists packed windows against the embedded server at each precision and each bound
convention (`asyncsdk.server.ServerConfig.time_precision`, ``start_inclusive``,
``end_inclusive``); cut at sub-second points, the second-precision server lost
thousands of calls per listing, with no error.

**A second is not split.** A second that holds more calls than one shard should take
stays in one shard, which pages through it with the API's tokens: splitting further
would need sub-second bounds that some APIs cannot read.

Imports: the standard library only.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Final

__all__ = ["even_cuts", "pages_left", "query_window", "split_cuts"]

_SECOND: Final = dt.timedelta(seconds=1)
_EARLIEST: Final = dt.datetime.min.replace(tzinfo=dt.UTC)
_LAST_SECOND: Final = dt.datetime.max.replace(microsecond=0, tzinfo=dt.UTC)


def _floor(when: dt.datetime) -> dt.datetime:
    """The whole second at or before ``when`` (UTC)."""
    return when.replace(microsecond=0)


def _nearest(when: dt.datetime) -> dt.datetime:
    """The whole second nearest ``when`` (UTC), half a second rounding up."""
    floor = _floor(when)
    return floor + _SECOND if when.microsecond >= 500_000 and floor < _LAST_SECOND else floor


def _ceil(when: dt.datetime) -> dt.datetime:
    """The whole second at or after ``when`` (UTC); ``when`` itself in the last second."""
    floor = _floor(when)
    if floor == when or floor >= _LAST_SECOND:
        return when
    return floor + _SECOND


def query_window(
    start: dt.datetime, end: dt.datetime, after: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """Return the bounds a shard of ``[start, end)`` (UTC) asks the API for.

    The low bound is the whole second before ``start``'s own; the high bound the first
    whole second at or after ``end``. A resumed shard, which handed over everything
    newer than ``after``, asks only up to the first whole second past ``after`` (calls
    created at ``after`` itself may not all have been handed over). At the ends of the
    calendar (year 1, year 9999) a bound that cannot move stays where it is. Any
    time zone is read in UTC (the second past 23:59:59.5+01:00 on 9999-12-31 is no
    date in that zone).
    """
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if after is not None:
        after = after.astimezone(dt.UTC)
    low = _floor(start)
    if low > _EARLIEST:
        low -= _SECOND
    high = _ceil(end)
    if after is not None and _floor(after) < _LAST_SECOND:
        high = min(high, _floor(after) + _SECOND)
    return low, high


def even_cuts(start: dt.datetime, end: dt.datetime, shards: int) -> list[dt.datetime]:
    """Cut ``[start, end)`` into at most ``shards`` windows at whole seconds.

    Returns ``start``, the inner cuts (whole seconds, increasing) and ``end``: a window
    spanning fewer whole seconds than ``shards`` gives fewer pieces, perhaps one.
    """
    step = (end - start) / shards
    inner = {_nearest(start + step * j) for j in range(1, shards)}
    return [start, *sorted(cut for cut in inner if start < cut < end), end]


def split_cuts(
    start: dt.datetime, top: dt.datetime, end: dt.datetime, parts: int
) -> list[dt.datetime]:
    """Cut ``[start, top]``, the rest of a busy shard of ``[start, end)``, into pieces.

    Returns ``start`` and at most ``parts - 1`` cuts ``M``, whole seconds with
    ``start < M <= top`` and ``M < end`` in increasing order: the shard keeps
    ``[M_last, end)``, which must hold something (a query reaching past ``end`` can
    leave ``top`` at ``end`` itself), new shards take the pieces below. Only
    ``[start]`` when no whole second is in range.
    """
    rest = top - start
    cuts = {_nearest(start + rest * j / parts) for j in range(1, parts)}
    return [start, *sorted(cut for cut in cuts if start < cut <= top and cut < end)]


def pages_left(calls: int, span: dt.timedelta, rest: dt.timedelta, page_size: int) -> float:
    """Estimate the pages in ``rest`` from ``calls`` seen over ``span`` (0 if unknown)."""
    if calls < 2:
        return 0.0
    if span <= dt.timedelta(0):
        return math.inf if calls >= page_size else 0.0
    return calls * (rest / span) / page_size
