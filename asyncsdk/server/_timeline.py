"""When each call of a dataset was created: ``createdAt`` as a function of the index.

The list endpoints order calls by ``createdAt`` and cut them into time windows. For a
dataset of any size to answer that without generating a body, ``createdAt`` is computed
from the call's index alone, and never decreases as the index grows: a time window is
then an index range, found by bisection, and newest first is descending index order
(ties on ``createdAt`` are broken by the id, whose low bits are the index).

Times are whole milliseconds, as the API writes them. With more calls than
milliseconds in the span, neighbours share a ``createdAt``: the equal-timestamp case a
sharded listing must get right.

A ``busy_share`` puts that share of the calls in one hour in the middle of the span
(the skewed day of a campaign); the rest spread evenly over the time around it.

Imports: the standard library only.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import NamedTuple

__all__ = ["BUSY_HOUR", "Timeline"]

#: The length of the busy period of a skewed timeline.
BUSY_HOUR = dt.timedelta(hours=1)
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


class _Segment(NamedTuple):
    """Calls ``first .. first + calls - 1`` spread evenly over ``length`` ms from ``start``."""

    first: int
    calls: int
    start: int
    length: int


def _to_ms(when: dt.datetime) -> int:
    return (when - _UNIX_EPOCH) // _MS


class Timeline:
    """``createdAt`` of calls ``0 .. size - 1``: non-decreasing over ``[start, start + span)``.

    Args:
        size: Number of calls.
        start: The earliest ``createdAt`` (aware).
        span: Length of the period the calls fall in (at least 1 ms; with a
            ``busy_share``, more than an hour).
        busy_share: Share of the calls, 0.0 to 1.0, created within one hour in the
            middle of the span; 0.0 spreads them evenly.

    Raises:
        ValueError: An argument is out of range.
    """

    __slots__ = ("_keys", "_segments", "_size", "busy_share", "span", "start")

    def __init__(
        self, size: int, *, start: dt.datetime, span: dt.timedelta, busy_share: float = 0.0
    ) -> None:
        if not isinstance(start, dt.datetime) or start.utcoffset() is None:
            raise ValueError(f"start must be a timezone-aware datetime, got {start!r}")
        if not isinstance(span, dt.timedelta) or span < _MS:
            raise ValueError(f"span must be a timedelta of at least 1 ms, got {span!r}")
        if isinstance(busy_share, bool) or not (
            isinstance(busy_share, int | float) and 0.0 <= busy_share <= 1.0
        ):
            raise ValueError(f"busy_share must be between 0.0 and 1.0, got {busy_share!r}")
        if busy_share and span <= BUSY_HOUR:
            raise ValueError(f"a busy_share needs a span longer than an hour, got {span}")
        self._size = size
        self.start = start.astimezone(dt.UTC)
        self.span = span
        self.busy_share = float(busy_share)
        begin, length = _to_ms(self.start), span // _MS
        if not busy_share:
            self._segments = [_Segment(0, size, begin, length)]
        else:
            hour = BUSY_HOUR // _MS
            before = (length - hour) // 2
            busy = round(size * busy_share)
            rest = size - busy
            early = round(rest * before / (length - hour))
            self._segments = [
                _Segment(0, early, begin, before),
                _Segment(early, busy, begin + before, hour),
                _Segment(early + busy, rest - early, begin + before + hour, length - before - hour),
            ]
        self._keys = [segment.first for segment in self._segments]

    @property
    def end(self) -> dt.datetime:
        """The end of the span (exclusive)."""
        return self.start + self.span

    def created_ms(self, index: int) -> int:
        """Return call ``index``'s ``createdAt`` in milliseconds since the Unix epoch."""
        segment = self._segments[bisect.bisect_right(self._keys, index) - 1]
        return segment.start + (index - segment.first) * segment.length // max(segment.calls, 1)

    def created_at(self, index: int) -> dt.datetime:
        """Return call ``index``'s ``createdAt`` as an aware datetime (UTC)."""
        return _UNIX_EPOCH + self.created_ms(index) * _MS

    def first_index_at(self, when: dt.datetime) -> int:
        """Return the first index created at or after ``when`` (``size`` if none is)."""
        micros = (when - _UNIX_EPOCH) // dt.timedelta(microseconds=1)
        return bisect.bisect_left(
            range(self._size), micros, key=lambda index: self.created_ms(index) * 1000
        )

    def indices(self, start: dt.datetime | None, end: dt.datetime | None) -> range:
        """Return the indices created in ``[start, end)`` (``None``: unbounded)."""
        low = 0 if start is None else self.first_index_at(start)
        high = self._size if end is None else self.first_index_at(end)
        return range(low, max(low, high))

    def __repr__(self) -> str:
        busy = f" busy_share={self.busy_share:g}" if self.busy_share else ""
        return f"<Timeline {self._size} calls from {self.start.isoformat()} over {self.span}{busy}>"
