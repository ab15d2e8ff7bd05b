"""The hand-off from a source to the tasks that work on its items, shared by two streams.

`asyncsdk.iter_calls` (IDs to calls) and `asyncsdk.webhooks.enrich_events` (events to
calls) read a `Source` the same way: take items while there is room and the source
gives them without waiting; when it would wait, start one read as a task whose
completion, like every worker task's, is put on one queue the stream's loop awaits;
stop reading when the source ends or the stream is drained; on the way out, cancel the
tasks and the pending read, mark every item taken done, and keep the item a cancelled
read had already taken. `Feed` is that state and those steps, and `Stream` the object a
caller iterates, drains and closes around the generator that runs them.

Both take a ``concurrency`` (items held at most), checked the same way
(`check_concurrency`). What the streams do with an item (start a request, join a fetch
in flight, skip an event), how much room there is, and what their leftovers are, stay
theirs.

Why not a library: aiostream's ``map`` with a ``task_limit`` runs a bounded number of
tasks over an async iterable, but its limit is fixed (a run here sends one request until
its first outcome, and holds back while in doubt), it cannot stop reading while letting
the work in flight finish (`Feed.drain`), it does not say what a closed stream took and
never delivered, and it knows nothing of a queue's ``task_done``.

Imports: the standard library, `_closing`, `_source` and `errors`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Generic, Self, TypeVar

from ._closing import Closing
from ._source import EMPTY, END, Source
from .errors import ConfigurationError

__all__ = ["Feed", "Stream", "check_concurrency"]

_T = TypeVar("_T")
_L = TypeVar("_L")


def check_concurrency(concurrency: int) -> None:
    """Refuse a ``concurrency`` that is not an int >= 1.

    Raises:
        ConfigurationError: It is not.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")


class Feed(Generic[_L]):
    """What a stream object and its generator share: the source, the read, the leftovers.

    Args:
        source: Where the items come from.
        leftovers: What the stream reports left over before it has ended (empty).

    Attributes:
        source: Where the items come from.
        completed: Every task the stream awaits (its workers' and the pending read) is
            put here when it ends; the stream may put markers of its own.
        reader: The pending read of the source, or ``None``.
        stopped: Whether the source is no longer read (drained, ended or closed).
        leftovers: What the ended stream did not deliver.
    """

    __slots__ = ("completed", "leftovers", "reader", "source", "stopped")

    def __init__(self, source: Source, leftovers: _L) -> None:
        self.source = source
        self.completed: asyncio.Queue[object] = asyncio.Queue()
        self.reader: asyncio.Task[object] | None = None
        self.stopped = False
        self.leftovers = leftovers

    def fill(self, room: Callable[[], bool], take: Callable[[object], None]) -> None:
        """Hand items to ``take`` while ``room()`` and the source gives them at once.

        When the source would wait, one read starts instead (its item comes back
        through `completed`, to `read_done`); when it ends, reading stops.
        """
        while not self.stopped and self.reader is None and room():
            item = self.source.take_nowait()
            if item is EMPTY:
                reader = self.reader = asyncio.create_task(self.source.take())
                reader.add_done_callback(self.completed.put_nowait)
            elif item is END:
                self.stopped = True
            else:
                take(item)

    def read_done(self, task: object, take: Callable[[object], None]) -> bool:
        """If ``task`` is the pending read, hand its item to ``take`` and return True.

        A read cancelled by `drain` took nothing. The source's own error propagates
        from here.
        """
        if task is not self.reader:
            return False
        self.reader = None
        assert isinstance(task, asyncio.Task)
        if not task.cancelled():
            item = task.result()
            if item is END:
                self.stopped = True
            else:
                take(item)
        return True

    def drain(self) -> None:
        """Stop reading; a read waiting on the source is cancelled (it takes nothing)."""
        self.stopped = True
        if self.reader is not None:
            self.reader.cancel()

    async def cancel(self, tasks: Iterable[asyncio.Task[Any]]) -> object:
        """Stop reading, cancel ``tasks`` and the pending read, and wait for them.

        Every item taken is then marked done once (`Source.settle`): the one in the
        consumer's hands when the loop was left, and each of the leftovers.

        Returns:
            The item a read took before it could be cancelled, or `END`.
        """
        self.stopped = True
        reader, self.reader = self.reader, None
        pending = [*tasks]
        if reader is not None:
            pending.append(reader)
        for task in pending:
            task.cancel()
        try:
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self.source.settle()
        if reader is not None and not reader.cancelled() and reader.exception() is None:
            return reader.result()
        return END


class Stream(Closing, AsyncIterator[_T], Generic[_T, _L]):
    """An async iterator around the generator that pumps a `Feed`; it can be drained.

    Iterate it with ``async for``; `drain` stops reading the source (what was taken is
    still worked on and yielded); `aclose` (or leaving ``async with``) cancels what is
    in flight, and `leftovers` then says what was not delivered.
    """

    __slots__ = ("_agen", "_feed")

    def __init__(self, agen: AsyncGenerator[_T, None], feed: Feed[_L]) -> None:
        self._agen = agen
        self._feed = feed

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Awaitable[_T]:
        return self._agen.__anext__()

    def drain(self) -> None:
        """Stop reading the source; finish and yield what was already taken, then end.

        A read waiting on the source is cancelled: safe for an `asyncio.Queue` (the
        item stays in it), and for most async iterators.
        """
        self._feed.drain()

    async def aclose(self) -> None:
        """Cancel what is in flight and end the stream; `leftovers` says what was left."""
        await self._agen.aclose()

    @property
    def leftovers(self) -> _L:
        """What was not delivered when the stream was closed or cancelled (empty before)."""
        return self._feed.leftovers
