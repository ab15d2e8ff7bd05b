"""`StreamWorker`: a worker of a consumer group that enriches a Redis stream's events.

Built by `enrich_stream` (in `_enrich_stream`, with the arguments).

Several workers (processes, machines) read the stream `RedisStreamSink` fills through
one consumer group; each takes part of the entries. Each worker:

1. creates the group if needed (from the stream's start), then reads the entries it
   had been given before a restart (its own pending entries), then new ones
   (``XREADGROUP ... >``), at most ``concurrency + batch`` held at a time;
2. decodes each entry; one that does not decode goes to the dead-letter stream at once
   (retrying cannot help);
3. asks the store which entries it committed already (a worker killed between its
   commit and its ``XACK``): those are acknowledged without a fetch;
4. fetches the call for the statuses asked for (`enrich_events`: one fetch per call
   and status in flight, the run stopped when no fetch can succeed), and passes the
   others on as they came;
5. commits a batch of results to the store in one transaction, and only then
   acknowledges them (``XACK``). A kill at any point leaves the entries pending: not
   lost, claimed again below, and applied once (`StreamStore.committed`);
6. every ``claim_every`` seconds, claims the entries other workers (or this one)
   left pending for ``min_idle`` seconds (``XAUTOCLAIM``): a worker that crashed, or
   a fetch that failed. An entry delivered ``max_deliveries`` times whose last attempt
   failed goes to the dead-letter stream with the reason (an atomic ``XACK`` +
   ``XADD``: two workers never dead-letter it twice), and so does one whose workers
   keep crashing. Then it trims the entries every group has acknowledged
   (`trim_acknowledged`), which keeps the sink's ``maxlen`` a measure of the backlog,
   and has a `ForgettingStore` drop its records of them committed more than
   ``forget_after`` seconds ago (`DEFAULT_FORGET_AFTER`: no worker is given them again).

When Redis fails, the worker logs it, waits (growing to `MAX_REDIS_BACKOFF` seconds)
and tries again (`_persist`); a group lost with a Redis restart without persistence is created
again. `StreamWorker.stop` stops reading and finishes what was read (fetch, commit,
acknowledge). Several workers share the workspace's GET budget when their clients
share a `asyncsdk.ratelimit.fleet.RedisRateLimiter`.

Imports: redis, the standard library, the SDK's public API (``from asyncsdk import``),
and the webhooks' `_enrich`, `_errors`, `_events`, `_group`, `_persist`, `_store`,
`_stream`, `_trim` and `_workerstats`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from asyncsdk import DEFAULT_CONCURRENCY, BirdError, Call, Client, ConfigurationError
from asyncsdk.webhooks._enrich import enrich_events
from asyncsdk.webhooks._errors import InvalidEventError
from asyncsdk.webhooks._events import TERMINAL_STATUSES, CallEvent
from asyncsdk.webhooks._group import ConsumerGroup, Entries, failure_reason
from asyncsdk.webhooks._persist import RedisRetry
from asyncsdk.webhooks._store import ForgettingStore, StreamResult, StreamStore
from asyncsdk.webhooks._stream import (
    DEFAULT_REDIS_TIMEOUT,
    DEFAULT_STREAM,
    check_seconds,
    connect,
    decode_entry,
    link_entry,
    redis_client_class,
)
from asyncsdk.webhooks._trim import acknowledged_bound, trim_below
from asyncsdk.webhooks._workerstats import StreamWorkerStats

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = [
    "DEFAULT_FORGET_AFTER",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_MIN_IDLE",
    "StreamWorker",
    "StreamWorkerStats",
]

logger: Final = logging.getLogger("asyncsdk")

DEFAULT_MIN_IDLE: Final = 30.0
"""Seconds an entry stays pending before another worker may claim it (``XAUTOCLAIM``)."""
DEFAULT_FORGET_AFTER: Final = 3600.0
"""Seconds after its commit a store forgets an entry every group acknowledged."""
DEFAULT_MAX_DELIVERIES: Final = 5
"""Deliveries of an entry whose last attempt failed before it goes to the dead letters."""


@dataclass(slots=True)
class _Held:
    entry_id: str
    event: CallEvent
    deliveries: int


#: What the committer gets: a result to commit, or an entry to acknowledge only.
_Ready = StreamResult | str


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
    return value


class StreamWorker:
    """One worker of a consumer group; built by `enrich_stream` (see it for the arguments).

    ``await worker.run()`` works until `stop` (or cancellation) and returns its
    `stats`.

    Attributes:
        stats: Live counters.
    """

    def __init__(
        self,
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
    ) -> None:
        for name, value in (("group", group), ("consumer", consumer), ("stream", stream)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{name} must be a non-empty string, got {value!r}")
        if not isinstance(store, StreamStore):
            raise ConfigurationError(
                f"store must have committed() and commit() (a StreamStore), got {store!r}"
            )
        self._client = client
        self._owns = not isinstance(redis, redis_client_class())
        self.redis = connect(redis, timeout=max(DEFAULT_REDIS_TIMEOUT, block + 1.0))
        self.group, self.consumer, self.stream, self.store = group, consumer, stream, store
        self.workspace_id, self.channel_id = workspace_id, channel_id
        self.statuses = None if statuses is None else frozenset(statuses)
        self.concurrency = _check_count("concurrency", concurrency)
        self.batch = _check_count("batch", batch)
        self.max_deliveries = _check_count("max_deliveries", max_deliveries)
        self.min_idle = check_seconds("min_idle", min_idle)
        self.claim_every = check_seconds("claim_every", claim_every or self.min_idle / 2)
        self.block = check_seconds("block", block)
        self.dead_letters = dead_letters or f"{{{stream}}}:dead"
        self.trim = trim
        self.forget_after = (
            None if forget_after is None else check_seconds("forget_after", forget_after)
        )
        self._names = (stream, group)
        self._group = ConsumerGroup(self.redis, stream, group, consumer, self.dead_letters)
        self.stats = StreamWorkerStats()
        self._held: dict[str, _Held] = {}
        self._by_event: dict[int, _Held] = {}
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self._redis_call = RedisRetry(self._group, self.stats, self._stopping).call

    def __repr__(self) -> str:
        return (
            f"<StreamWorker stream={self.stream!r} group={self.group!r} "
            f"consumer={self.consumer!r} held={len(self._held)}>"
        )

    def stop(self) -> None:
        """Stop reading; finish the entries read (fetch, commit, acknowledge), then end."""
        self._stopping.set()

    @property
    def held(self) -> int:
        """Entries read and not yet acknowledged, dead-lettered or left to be claimed."""
        return len(self._held)

    async def run(self) -> StreamWorkerStats:
        """Work until `stop`; return the counters.

        Raises:
            StreamUnavailableError: Redis failed while stopping (what was read and not
                acknowledged stays pending, for another worker).
            RunStoppedError: The first fetches showed that none can succeed (the API
                unreachable, the credential refused); the entries stay pending.
            Exception: The store's error when a commit fails (the entries stay pending).
        """
        fetch: asyncio.Queue[CallEvent | None] = asyncio.Queue(self.concurrency)
        ready: asyncio.Queue[_Ready | None] = asyncio.Queue()
        await self._redis_call(self._group.create)
        stages = [
            asyncio.create_task(self._reader(fetch, ready), name="asyncsdk-stream: reading"),
            asyncio.create_task(self._enricher(fetch, ready), name="asyncsdk-stream: fetching"),
            asyncio.create_task(self._committer(ready), name="asyncsdk-stream: committing"),
        ]
        try:
            pending: set[asyncio.Task[None]] = set(stages)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    if task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
        finally:
            for task in stages:
                task.cancel()
            await asyncio.gather(*stages, return_exceptions=True)
            if self._owns:
                await self.redis.aclose()
        return self.stats

    async def _dead_letter(self, entry_id: str, reason: str, deliveries: int) -> None:
        if await self._redis_call(self._group.dead_letter, entry_id, reason, deliveries):
            self.stats.dead_lettered += 1
            logger.warning(
                "stream %s: entry %s dead-lettered to %s after %d deliveries: %s",
                self.stream,
                entry_id,
                self.dead_letters,
                deliveries,
                reason,
            )

    # --- the stages ---------------------------------------------------------------

    async def _reader(
        self, fetch: asyncio.Queue[CallEvent | None], ready: asyncio.Queue[_Ready | None]
    ) -> None:
        loop = asyncio.get_running_loop()
        after = "0"  # this consumer's own pending entries first (a restart)
        while not self._stopping.is_set():
            own = await self._redis_call(self._group.read_own, after, self.batch)
            assert isinstance(own, list)
            self.stats.claimed += len(own)
            if not own:
                break
            after = own[-1][0]
            await self._dispatch(own, fetch, ready)
        next_claim = loop.time()
        while not self._stopping.is_set():
            while len(self._held) >= self.concurrency + self.batch:
                self._room.clear()
                await self._room.wait()
            if loop.time() >= next_claim:
                await self._reclaim(fetch, ready)
                next_claim = loop.time() + self.claim_every
                continue
            room = self.concurrency + self.batch - len(self._held)
            entries = await self._redis_call(
                self._group.read_new, min(self.batch, room), self.block
            )
            assert isinstance(entries, list)
            self.stats.read += len(entries)
            await self._dispatch(entries, fetch, ready)
        await fetch.put(None)

    async def _reclaim(
        self, fetch: asyncio.Queue[CallEvent | None], ready: asyncio.Queue[_Ready | None]
    ) -> None:
        """Claim what was left pending for ``min_idle``; dead-letter what keeps failing."""
        start = "0-0"
        while not self._stopping.is_set():
            claimed = await self._redis_call(self._group.claim, start, self.min_idle, self.batch)
            assert isinstance(claimed, tuple)
            start, found = claimed
            entries = [e for e in found if e[0] not in self._held]
            self.stats.claimed += len(entries)
            worn = [e for e in entries if e[2] > self.max_deliveries]
            for entry_id, _, deliveries in worn:
                reason = await self._redis_call(self._group.failure, entry_id)
                text = reason if isinstance(reason, str) else "its workers stopped mid-entry"
                await self._dead_letter(entry_id, text, deliveries - 1)
            await self._dispatch([e for e in entries if e not in worn], fetch, ready)
            if start == "0-0" or len(self._held) >= self.concurrency + self.batch:
                break
        store = self.store if isinstance(self.store, ForgettingStore) else None
        forget_after = None if store is None else self.forget_after
        if not self.trim and forget_after is None:  # nobody needs the bound: no round trip
            return
        bound = await self._redis_call(acknowledged_bound, self.redis, self.stream)
        if not isinstance(bound, str):  # no group: nothing was acknowledged by every group
            return
        if self.trim:
            await self._redis_call(trim_below, self.redis, self.stream, bound)
        if store is not None and forget_after is not None:
            before = time.time() - forget_after
            try:
                self.stats.forgotten += await store.forget_before(self.stream, bound, before)
            except Exception as exc:  # a memory to shed, not a result: try at the next round
                logger.warning("stream %s: the store kept its old records: %r", self.stream, exc)

    async def _dispatch(
        self,
        entries: Entries,
        fetch: asyncio.Queue[CallEvent | None],
        ready: asyncio.Queue[_Ready | None],
    ) -> None:
        held: list[_Held] = []
        for entry_id, fields, deliveries in entries:
            if entry_id in self._held:
                continue
            if fields is None:  # trimmed or deleted while pending: nothing to apply
                await ready.put(entry_id)
                continue
            try:
                event = decode_entry(fields)
            except InvalidEventError as exc:
                await self._dead_letter(entry_id, failure_reason(exc), deliveries)
                continue
            link_entry(self._client, event, fields)  # telemetry: link to the delivery
            held.append(_Held(entry_id, event, deliveries))
        if not held:
            return
        for entry in held:
            self._held[entry.entry_id] = entry
        done = await self.store.committed(self.stream, [e.entry_id for e in held])
        for entry in held:
            if entry.entry_id in done:
                self.stats.replayed += 1
                await ready.put(entry.entry_id)
            elif self.statuses is not None and entry.event.status not in self.statuses:
                await ready.put(StreamResult(entry.entry_id, entry.event, None))
            else:
                self._by_event[id(entry.event)] = entry
                await fetch.put(entry.event)

    async def _enricher(
        self, fetch: asyncio.Queue[CallEvent | None], ready: asyncio.Queue[_Ready | None]
    ) -> None:
        events = enrich_events(
            self._client,
            fetch,
            workspace_id=self.workspace_id,
            channel_id=self.channel_id,
            statuses=None,
            concurrency=self.concurrency,
        )
        async with events:
            async for event, outcome in events:
                entry = self._by_event.pop(id(event))
                if isinstance(outcome, Call):
                    await ready.put(StreamResult(entry.entry_id, event, outcome))
                else:
                    await self._failed(entry, outcome)
        await ready.put(None)

    async def _failed(self, entry: _Held, error: BirdError) -> None:
        """A fetch failed: keep the reason; dead-letter the entry if it is worn out."""
        self.stats.failed += 1
        reason = self.stats.last_failure = failure_reason(error)
        if entry.deliveries >= self.max_deliveries:
            await self._dead_letter(entry.entry_id, reason, entry.deliveries)
        else:
            await self._redis_call(self._group.note_failure, entry.entry_id, reason)
        self._release([entry.entry_id])

    async def _committer(self, ready: asyncio.Queue[_Ready | None]) -> None:
        ended = False
        while not ended:
            batch = [await ready.get()]
            while len(batch) < self.batch and not ready.empty():
                batch.append(ready.get_nowait())
            ended = batch[-1] is None
            results = [item for item in batch if isinstance(item, StreamResult)]
            acks = [item if isinstance(item, str) else item.entry_id for item in batch if item]
            await self.store.commit(self.stream, results)
            for result in results:
                if result.call is not None:
                    self.stats.enriched += 1
                else:
                    self.stats.passed += 1
            if acks:
                await self._redis_call(self._group.acknowledge, acks)
                self.stats.acknowledged += len(acks)
            self._release(acks)

    def _release(self, entry_ids: list[str]) -> None:
        for entry_id in entry_ids:
            self._held.pop(entry_id, None)
        self._room.set()
