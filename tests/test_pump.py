"""The hand-off `iter_calls` and `enrich_events` share (`asyncsdk._pump`), on its own.

A real `asyncio.Queue` as the source; no server, no timed sleeps: each step is driven by
awaiting the tasks the feed itself creates.
"""

from __future__ import annotations

import asyncio

import pytest

from asyncsdk import ConfigurationError
from asyncsdk._pump import Feed, check_concurrency
from asyncsdk._source import END, Source


def _feed(items: object) -> Feed[tuple[object, ...]]:
    return Feed(Source(items, what="items"), ())


async def test_fill_takes_while_there_is_room_and_stops_at_the_end() -> None:
    feed = _feed(["a", "b", "c"])
    taken: list[object] = []
    feed.fill(lambda: len(taken) < 2, taken.append)
    assert taken == ["a", "b"] and not feed.stopped
    feed.fill(lambda: True, taken.append)
    assert taken == ["a", "b", "c"] and feed.stopped
    assert feed.reader is None


async def test_an_empty_queue_gets_one_read_whose_item_comes_back_through_completed() -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    feed = _feed(queue)
    taken: list[object] = []
    feed.fill(lambda: True, taken.append)
    reader = feed.reader
    assert reader is not None and taken == []
    feed.fill(lambda: True, taken.append)  # one read at a time
    assert feed.reader is reader
    queue.put_nowait("x")
    done = await feed.completed.get()
    assert done is reader
    assert not feed.read_done(object(), taken.append)  # another task: not the read
    assert feed.read_done(done, taken.append)
    assert taken == ["x"] and feed.reader is None
    queue.put_nowait(None)  # the queue's end
    feed.fill(lambda: True, taken.append)
    assert feed.stopped and taken == ["x"]


async def test_drain_cancels_the_read_and_takes_nothing() -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    feed = _feed(queue)
    feed.fill(lambda: True, pytest.fail)
    feed.drain()
    done = await feed.completed.get()
    assert feed.read_done(done, pytest.fail)
    assert feed.stopped and feed.reader is None
    queue.put_nowait("left in the queue")
    assert queue.qsize() == 1


async def test_cancel_stops_every_task_settles_the_queue_and_returns_an_unread_item() -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    for item in ("a", "b"):
        queue.put_nowait(item)
    feed = _feed(queue)
    taken: list[object] = []
    feed.fill(lambda: len(taken) < 2, taken.append)
    worker = asyncio.create_task(asyncio.Event().wait())  # never ends by itself
    feed.fill(lambda: True, taken.append)  # the queue is empty now: one read waits
    queue.put_nowait("c")
    await asyncio.sleep(0)  # the read takes "c" before it can be cancelled
    unread = await feed.cancel([worker])
    assert worker.cancelled()
    assert unread == "c" and taken == ["a", "b"]
    assert feed.stopped and feed.reader is None
    await asyncio.wait_for(queue.join(), 1)  # every item taken was marked done


async def test_cancel_without_a_read_returns_end() -> None:
    feed = _feed([])
    assert await feed.cancel([]) is END


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_concurrency_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="concurrency must be an int >= 1"):
        check_concurrency(bad)  # type: ignore[arg-type]
