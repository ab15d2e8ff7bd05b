"""Helpers for the Redis Streams tests: events for the dataset's calls, waiting on counters."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import msgspec

from asyncsdk import Call
from asyncsdk.server import Dataset
from asyncsdk.webhooks import CallEvent

#: Seconds a test waits for an outcome before failing (a bound, never a timing check).
PATIENCE = 120.0


def event_for(ds: Dataset, call_id: uuid.UUID, status: str, **extra: object) -> CallEvent:
    """An event whose payload is the dataset's call with ``status``."""
    payload = msgspec.json.decode(ds.body(call_id) or b"{}")
    payload.update({"id": str(call_id), "channelId": str(ds.channel_id), "status": status})
    payload.update(extra)
    return CallEvent(
        service="channels",
        event="voice.outbound",
        payload=msgspec.convert(payload, Call),
        request_id=str(uuid.uuid4()),
    )


async def until(condition: Callable[[], bool], what: str, seconds: float = PATIENCE) -> None:
    """Wait until ``condition()`` holds; fail after ``seconds`` saying ``what`` was awaited."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {seconds:g}s")
        await asyncio.sleep(0.02)
