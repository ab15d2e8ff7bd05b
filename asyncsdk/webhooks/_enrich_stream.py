"""`enrich_stream`: build a `StreamWorker` for a Redis stream's call events.

What the worker does, step by step, is in `asyncsdk.webhooks._worker`.

Imports: redis, the standard library, the SDK's public API and the webhooks'
`_events`, `_store`, `_stream` and `_worker`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import TYPE_CHECKING

from asyncsdk import DEFAULT_CONCURRENCY, Client
from asyncsdk.webhooks._events import TERMINAL_STATUSES
from asyncsdk.webhooks._store import StreamStore
from asyncsdk.webhooks._stream import DEFAULT_STREAM
from asyncsdk.webhooks._worker import (
    DEFAULT_FORGET_AFTER,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_MIN_IDLE,
    StreamWorker,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["enrich_stream"]


def enrich_stream(
    client: Client,
    redis: str | aioredis.Redis,
    *,
    group: str,
    consumer: str,
    store: StreamStore,
    workspace_id: str | uuid.UUID,
    stream: str = DEFAULT_STREAM,
    channel_id: str | uuid.UUID | None = None,
    statuses: Collection[str] | None = TERMINAL_STATUSES,
    concurrency: int = DEFAULT_CONCURRENCY,
    batch: int = 100,
    min_idle: float = DEFAULT_MIN_IDLE,
    claim_every: float | None = None,
    max_deliveries: int = DEFAULT_MAX_DELIVERIES,
    dead_letters: str | None = None,
    block: float = 1.0,
    trim: bool = True,
    forget_after: float | None = DEFAULT_FORGET_AFTER,
) -> StreamWorker:
    """Return a worker that enriches a Redis stream's call events into ``store``.

    See the module `asyncsdk.webhooks._enrich_stream` for what it does, in order::

        async with SQLiteCallStore("calls.sqlite") as store:
            worker = enrich_stream(client, "redis://127.0.0.1:6379/0", group="enrich",
                                   consumer="worker-1", store=store, workspace_id=ws)
            await worker.run()  # until worker.stop()

    Args:
        client: The client to fetch with; give the clients of all workers one
            `asyncsdk.ratelimit.fleet.RedisRateLimiter` to share the workspace's GET budget.
        redis: A `redis.asyncio.Redis` (not closed by the worker) or a URL.
        group: The consumer group (created from the stream's start if absent).
        consumer: This worker's name in the group, stable across its restarts (so a
            restarted worker takes back its own pending entries first).
        store: Where results are committed (`SQLiteCallStore`, or a `StreamStore`).
        workspace_id: The workspace of the subscription (events do not carry it).
        stream: The stream's key.
        channel_id: The channel, for payloads without ``channelId``.
        statuses: The statuses worth a fetch (default: the terminal ones); other
            events are committed as they came. ``None`` fetches for every event.
        concurrency: Fetches in flight at most.
        batch: Entries read, committed and acknowledged per round trip at most.
        min_idle: Seconds an entry stays pending before it may be claimed: longer
            than a fetch with its retries may take.
        claim_every: Seconds between two claims (default: half of ``min_idle``).
        max_deliveries: Deliveries after which an entry whose attempt failed goes to
            the dead-letter stream.
        dead_letters: The dead-letter stream (default ``{stream}:dead``).
        block: Seconds a read waits for new entries (and `StreamWorker.stop` at most
            waits for the read).
        trim: Trim the entries every group acknowledged, at each claim.
        forget_after: Seconds after its commit that a `ForgettingStore` (such as
            `SQLiteCallStore`) forgets an entry every group acknowledged, at each claim
            (default an hour); ``None`` keeps every record.

    Returns:
        A `StreamWorker`: ``await worker.run()``.

    Raises:
        ConfigurationError: An argument out of range, or a store without
            ``committed`` and ``commit``.
    """
    return StreamWorker(
        client,
        redis,
        group=group,
        consumer=consumer,
        store=store,
        workspace_id=workspace_id,
        stream=stream,
        channel_id=channel_id,
        statuses=statuses,
        concurrency=concurrency,
        batch=batch,
        min_idle=min_idle,
        claim_every=claim_every,
        max_deliveries=max_deliveries,
        dead_letters=dead_letters,
        block=block,
        trim=trim,
        forget_after=forget_after,
    )
