"""The fleet limiter's waiters, the slots it takes for them from Redis, and its pauses.

Reserve, then sleep. When no slot is free the script reserves the next one and says
how long to wait for it. The schedule thus lives in Redis: a worker whose timer fires
late delays its own request but costs the fleet no capacity, and the long-run rate is
the configured one. Each process keeps its waiters in a local FIFO and one dispatcher
task asks Redis for them (up to `MAX_BATCH` free slots per call), so a process holds
at most one reservation at a time. Over any window of ``t`` seconds the fleet's grants
stay within ``burst + rate * (t + d)``, ``d`` being how late a timer fires.

Cancel-safety. A waiter cancelled while queued takes nothing. A slot whose waiter
went away (cancelled after its reservation, or after its grant) goes to the next
waiter of the same process; with none left it is handed back to Redis when it is still
the fleet's latest reservation, and otherwise goes unused: cancellation can lower
the fleet's rate, never raise it above the bound.

Pauses: a pause reaches every worker at its next call to Redis. A slot a worker
reserved just before the pause was written (at most one per process, due within
about ``processes / rate`` seconds) may still be used.

Imports: redis-py (through ``_gcra``), the standard library, and this subpackage's
``_gcra`` and ``_fallback``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Coroutine
from typing import Final

from ._fallback import LimiterMode, _Fallback
from ._gcra import REDIS_FAILURES, US, aioredis, run_script

__all__ = ["MAX_BATCH"]

#: Most slots one process takes from Redis in one call (when that many are free).
MAX_BATCH: Final = 64


class _Slots(_Fallback):
    """A process's FIFO of waiters, served by one dispatcher task (module doc)."""

    __slots__ = (
        "_background",
        "_interval_us",
        "_max_pause",
        "_paused_until",
        "_redis",
        "_script_loads",
        "_tolerance_us",
        "_waiters",
    )

    _background: set[asyncio.Task[None]]
    _redis: aioredis.Redis
    _waiters: deque[asyncio.Future[None]]
    _interval_us: float
    _tolerance_us: float
    _paused_until: float
    _max_pause: float
    _script_loads: int
    _parent: _Slots | None

    def _own_waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    async def _dispatch(self) -> None:
        """Take slots from Redis (or the fallback) for the waiters, in order, then exit."""
        try:
            await self._serve_waiters()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: let the waiters see it rather than hang
            self._fail_waiters(exc)

    async def _serve_waiters(self) -> None:
        loop = asyncio.get_running_loop()
        while (wanted := self._own_waiting()) > 0:
            now = loop.time()
            if now < self._paused_until:  # a pause this process saw itself
                await asyncio.sleep(self._paused_until - now)
                continue
            if self._mode is LimiterMode.FALLBACK and now < self._next_probe:
                await self._grant_locally(self._next_probe - now)
                continue
            batch = min(wanted, MAX_BATCH)
            if self._rejoining(now) and not self._fail_closed:  # within the fallback share too
                await self._fallback.acquire()
                batch = 1
            try:
                granted, wait_us, tat = await self._call("acquire", batch)
            except REDIS_FAILURES as exc:
                self._redis_failed(exc)
                continue
            if self._mode is LimiterMode.FALLBACK:
                self._redis_back()
            if granted == 0:  # the fleet is paused
                await asyncio.sleep(min(wait_us / US, self._max_pause))
                continue
            if wait_us > 0:  # one slot reserved: wait for it
                await asyncio.sleep(wait_us / US)
                if loop.time() < self._paused_until:  # paused meanwhile: hand it back
                    await self._release(tat, granted)
                    continue
            unused = self._grant(granted)
            if unused:
                await self._release(tat, unused)

    async def _grant_locally(self, seconds: float) -> None:
        """During an outage: one grant from the fallback bucket, or none within ``seconds``."""
        if self._fail_closed:
            await asyncio.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):
                await self._fallback.acquire()
        except TimeoutError:
            return  # time to probe Redis
        self._grant(1)

    def _grant(self, count: int) -> int:
        """Wake up to ``count`` waiters at the head of the queue; return the slots unused."""
        waiters = self._waiters
        while count and waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                count -= 1
        return count

    def _fail_waiters(self, exc: BaseException) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    async def _call(self, op: str, *args: float) -> tuple[int, ...]:
        """Run the script's ``op`` on this limit (`_gcra.run_script`); count a reload.

        Raises:
            One of `REDIS_FAILURES`: Redis is unavailable.
        """
        params = (self._interval_us, self._tolerance_us, *args)
        reply, loaded = await run_script(self._redis, self._key, op, params, self._timeout)
        if loaded:
            self._script_loads += 1
            if self._parent is not None:
                self._parent._script_loads += 1
        return reply

    async def _release(self, tat: int, count: int) -> None:
        """Hand ``count`` unused slots back, if they are still the fleet's latest (best effort)."""
        with contextlib.suppress(*REDIS_FAILURES):  # else they go unused: never an overrun
            await self._call("release", tat, count)

    def _pause_locally(self, seconds: float) -> float | None:
        """Pause this process; return the new end (loop time), or None if it is not later."""
        seconds = min(max(seconds, 0.0), self._max_pause)
        if seconds <= 0:
            return None
        until = asyncio.get_running_loop().time() + seconds
        if until <= self._paused_until:
            return None
        self._paused_until = until
        return until

    async def _write_pause(self, seconds: float) -> None:
        """Write a pause of ``seconds`` (from Redis's now) where every worker checks it."""
        pause = min(max(seconds, 0.0), self._max_pause)
        try:
            await self._call("pause", pause * US)
        except REDIS_FAILURES as exc:
            self._redis_failed(exc)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
