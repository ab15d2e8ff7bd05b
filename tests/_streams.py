"""Helpers for the Redis Streams tests: waiting on counters, with a bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: Seconds a test waits for an outcome before failing (a bound, never a timing check).
PATIENCE = 120.0


async def until(condition: Callable[[], bool], what: str, seconds: float = PATIENCE) -> None:
    """Wait until ``condition()`` holds; fail after ``seconds`` saying ``what`` was awaited."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {seconds:g}s")
        await asyncio.sleep(0.02)
