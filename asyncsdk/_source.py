"""One way to read items from what a caller has: an iterable, an async iterable, a queue.

The bulk helpers and the event pipeline take IDs or events from a list, a generator,
an async generator or an `asyncio.Queue`. `Source` reads each the cheapest way: without
waiting when it can (`take_nowait`), with an awaitable read otherwise (`take`).

A queue ends with ``None`` put on it (one per consumer) or, on Python 3.13+,
``queue.shutdown()``. Each item taken from a queue is marked done (``task_done``) once
the caller calls `Source.done` for it, so ``queue.join()`` waits until every item has
been dealt with. The source counts the items it handed out and not yet marked done:
`Source.settle` marks them all, so a reader that ends (however it ends) calls it once
in its cleanup and every item taken is marked done exactly once.

Imports: the standard library only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Final

__all__ = ["EMPTY", "END", "Source"]

END: Final = object()
"""Returned when the source has no more items."""
EMPTY: Final = object()
"""Returned by `Source.take_nowait` when an item may come but is not there yet."""


class _NeverRaisedError(Exception):
    pass


#: asyncio.QueueShutDown exists from Python 3.13 on.
_QUEUE_SHUT_DOWN: type[Exception] = getattr(asyncio, "QueueShutDown", _NeverRaisedError)


class Source:
    """Items from a sync iterable, an async iterable or an `asyncio.Queue`.

    Args:
        items: Where the items come from.
        what: The argument's name, for error messages (``"call_ids"``).

    Raises:
        TypeError: ``items`` is a single ``str`` or ``bytes`` (iterating it would give
            characters), or none of the above.
    """

    __slots__ = ("_aiter", "_iter", "_owed", "_queue")

    def __init__(self, items: object, *, what: str) -> None:
        self._owed = 0  # items taken from the queue and not yet marked done
        self._iter: Iterator[object] | None = None
        self._aiter: AsyncIterator[object] | None = None
        self._queue: asyncio.Queue[object] | None = None
        if isinstance(items, str | bytes | bytearray):
            raise TypeError(
                f"{what} is a single {type(items).__name__}, not a collection of them; "
                f"wrap one ID in a list: [{what.removesuffix('s')}]"
            )
        if isinstance(items, asyncio.Queue):
            self._queue = items
        elif isinstance(items, Iterable):
            self._iter = iter(items)
        elif isinstance(items, AsyncIterable):
            self._aiter = aiter(items)
        else:
            raise TypeError(
                f"{what} must be an iterable, an async iterable or an asyncio.Queue, "
                f"got {type(items).__name__}"
            )

    @property
    def is_queue(self) -> bool:
        """Whether items come from an `asyncio.Queue`."""
        return self._queue is not None

    def take_nowait(self) -> object:
        """Return the next item, `END`, or `EMPTY` when getting one means waiting."""
        if self._iter is not None:
            return next(self._iter, END)
        queue = self._queue
        if queue is None:
            return EMPTY
        try:
            item = queue.get_nowait()
        except asyncio.QueueEmpty:
            return EMPTY
        except _QUEUE_SHUT_DOWN:
            return END
        if item is None:
            queue.task_done()
            return END
        self._owed += 1
        return item

    async def take(self) -> object:
        """Wait for the next item; return it, or `END`.

        Cancelling it loses nothing from a queue (`asyncio.Queue.get` is safe to
        cancel); an async iterator may not be.
        """
        queue = self._queue
        if queue is not None:
            try:
                item = await queue.get()
            except _QUEUE_SHUT_DOWN:
                return END
            if item is None:
                queue.task_done()
                return END
            self._owed += 1  # in the same step as the get: a cancellation cannot split them
            return item
        if self._aiter is not None:
            return await anext(self._aiter, END)
        assert self._iter is not None
        return next(self._iter, END)

    def done(self, count: int = 1) -> None:
        """Mark ``count`` items taken from a queue as dealt with (``task_done``).

        Never more than were taken and not yet marked: an item is marked once.
        """
        queue = self._queue
        if queue is not None:
            count = min(count, self._owed)
            self._owed -= count
            for _ in range(count):
                queue.task_done()

    def settle(self) -> int:
        """Mark every item taken from a queue and not yet marked as done; return how many.

        Call it once a reader is finished with the source, whatever ended it (the end of
        the items, a ``break`` in the consumer's loop, an exception, a cancellation), so
        that ``queue.join()`` cannot wait forever for an item nobody holds any more.
        """
        owed = self._owed
        self.done(owed)
        return owed

    async def aclose(self) -> None:
        """Close an async generator source (a no-op for the others)."""
        aclose = getattr(self._aiter, "aclose", None)
        if aclose is not None:
            await aclose()
