"""`RedisRetry`: a stream worker's calls to Redis, each tried again until it works.

A `StreamWorker` (`_worker`) must outlive a Redis restart or a network cut: every
command it sends goes through `RedisRetry.call`, which logs a failure, waits
(`redis_backoff`: growing to `MAX_REDIS_BACKOFF` seconds, cut short by a stop) and
tries again; a consumer group lost with a Redis restart without persistence is
created again first. While the worker stops, a failure ends the call with
`StreamUnavailableError` instead: a stop must not wait for Redis to come back, and
the entries not acknowledged stay pending for another worker. Why not tenacity: the
wait must end on the worker's stop event, and a lost group is repaired in the loop.

Imports: the standard library, and the webhooks' `_group`, `_stream` and `_workerstats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from asyncsdk.webhooks._stream import StreamUnavailableError, redis_failures

if TYPE_CHECKING:
    from asyncsdk.webhooks._group import ConsumerGroup
    from asyncsdk.webhooks._workerstats import StreamWorkerStats

__all__ = ["MAX_REDIS_BACKOFF", "RedisRetry", "redis_backoff"]

logger: Final = logging.getLogger("asyncsdk")

#: Longest wait, in seconds, between two attempts to reach Redis.
MAX_REDIS_BACKOFF: Final = 5.0


def redis_backoff(failures: int) -> float:
    """Return the seconds to wait after ``failures`` failed calls to Redis in a row."""
    return float(min(MAX_REDIS_BACKOFF, 0.1 * 2 ** min(failures, 10)))


class RedisRetry:
    """One worker's calls to Redis, each tried until it works or the worker stops.

    Args:
        group: The worker's consumer group (created again when Redis lost it).
        stats: The worker's counters (``redis_errors`` is counted here).
        stopping: Set when the worker stops: ends a wait, and a failure then raises.
    """

    __slots__ = ("_failures", "_group", "_stats", "_stopping")

    def __init__(
        self, group: ConsumerGroup, stats: StreamWorkerStats, stopping: asyncio.Event
    ) -> None:
        self._group = group
        self._stats = stats
        self._stopping = stopping
        self._failures = 0

    async def call(self, call: Callable[..., Awaitable[object]], *args: object) -> object:
        """Run ``call(*args)`` against Redis until it works.

        Raises:
            StreamUnavailableError: It failed while the worker was stopping: a stop
                must not wait for Redis to come back.
        """
        stream, group = self._group.stream, self._group.group
        while True:
            try:
                result = await call(*args)
            except redis_failures() as exc:
                self._stats.redis_errors += 1
                self._failures += 1
                if "NOGROUP" in str(exc):  # Redis restarted empty: the group is gone
                    logger.warning("stream %s: group %s is gone, creating it", stream, group)
                    await self.call(self._group.create)
                    continue
                if self._stopping.is_set():  # stopping: what is not acknowledged stays pending
                    raise StreamUnavailableError(
                        f"Redis failed while the worker was stopping ({type(exc).__name__}: "
                        f"{exc}); the entries not acknowledged stay pending",
                        stream=stream,
                    ) from exc
                pause = redis_backoff(self._failures)
                logger.warning(
                    "stream %s: Redis failed (%s: %s); trying again in %.1fs",
                    stream,
                    type(exc).__name__,
                    exc,
                    pause,
                )
                with contextlib.suppress(TimeoutError):  # a stop ends the wait
                    await asyncio.wait_for(self._stopping.wait(), pause)
                continue
            self._failures = 0
            return result
